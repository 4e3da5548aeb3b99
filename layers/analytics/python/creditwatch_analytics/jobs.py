"""What every image job is built on: its Lambda entry, the run's flow around its own `run`, its event's window.

A job's package keeps what is its own: its event model (on `JobEvent`), settings (with `AgeCuts` where it
judges fairness), `run` (its service.py), summary, and in app.py a `JobService` subclass naming them with
its metrics and log line, and `build`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, ClassVar, Generic, Protocol, TypeVar

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_settings import NoDecode

from creditwatch_common.events import InvalidEvent, parse_event
from creditwatch_common.observability import Observability
from creditwatch_common.reports import TokenLinks, token_key_from_secret
from creditwatch_common.settings import FunctionSettings

Handler = Any


def _age_cuts(value: object) -> object:
    if isinstance(value, str):
        value = [int(v) for v in value.replace(" ", "").split(",") if v]
    if isinstance(value, list | tuple) and list(value) != sorted(set(value)):
        raise ValueError("age cut points must be increasing, e.g. 25 or 25,60")
    return value


# FAIRNESS_AGE_CUTS: "25" or "25,60" (NoDecode: a comma list, not JSON); each cut starts a band (groups.age_bands).
AgeCuts = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_age_cuts)]


class RunAnswer(Protocol):
    """What a job's run answers: a pydantic model with an error code (None: none) and a message."""

    @property
    def error(self) -> str | None:
        """Why the run did not do its work (None: it did)."""

    @property
    def message(self) -> str:
        """The run in words."""

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """The answer as JSON."""


class Job(Protocol):
    """A job's plain service: one run per event."""

    def run(self, request: Any) -> Any:
        """The run of one valid event."""


EventT = TypeVar("EventT", bound=BaseModel)
SettingsT = TypeVar("SettingsT", bound=FunctionSettings)
JobT = TypeVar("JobT", bound=Job)
AnswerT = TypeVar("AnswerT", bound=RunAnswer)


class JobRunError(Exception):
    """The run could not do its work; each job names its own (the name is Lambda's errorType)."""


class EventService(ABC, Generic[EventT]):
    """A job's Lambda entry: the event parsed into the job's model, or answered as `invalid_event`."""

    event_model: type[EventT]
    # What the invalid_event answer calls the event ("drift event").
    event_name: str
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event's answer (JSON); an event the model refuses is answered, not run."""
        try:
            request = parse_event(self.event_model, event, self.event_name)
        except InvalidEvent as exc:
            # A bad on-demand event: answered precisely, never retried (no retry would help).
            return exc.answer(self.obs.logger)
        return self.answer(request)

    @abstractmethod
    def answer(self, request: EventT) -> dict[str, Any]:
        """The answer to a valid event."""


@dataclass(frozen=True)
class JobService(EventService[EventT], Generic[SettingsT, JobT, EventT, AnswerT]):
    """The built function of a job whose run answers a summary: run, metrics, log line, error raised."""

    settings: SettingsT
    job: JobT
    obs: Observability
    run_error: ClassVar[type[JobRunError]] = JobRunError

    def answer(self, request: EventT) -> dict[str, Any]:
        """Run the job, count it, log its line; a failed run is a function error, others are answered."""
        answer = self.run(request)
        self.metrics(answer)
        log = self.obs.logger.warning if self.warns(answer) else self.obs.logger.info
        log(answer.message, extra=self.log_extra(answer))
        if self.failed(answer):
            # A function error, not a result: its alarm pages, Lambda retries an asynchronous run, then its
            # OnFailure destination keeps the event; the metrics above are flushed anyway.
            raise self.run_error(f"{answer.error}: {answer.message}")
        return answer.model_dump(mode="json")

    def run(self, request: EventT) -> AnswerT:
        """The job's run."""
        answer: AnswerT = self.job.run(request)
        return answer

    def metrics(self, answer: AnswerT) -> None:
        """The run's metrics (none unless the job has some)."""

    @abstractmethod
    def failed(self, answer: AnswerT) -> bool:
        """Whether the run failed (a function error)."""

    @abstractmethod
    def warns(self, answer: AnswerT) -> bool:
        """Whether the run's log line is a warning."""

    @abstractmethod
    def log_extra(self, answer: AnswerT) -> dict[str, Any]:
        """What the run's log line carries beside its message."""


class LinkSettings(Protocol):
    """The settings of a job whose reports are linked through the reports route."""

    @property
    def report_link_token_secret(self) -> str | None:
        """The secret holding the link tokens' key (REPORT_LINK_TOKEN_SECRET)."""

    @property
    def report_link_base_url(self) -> str | None:
        """The API's base URL (REPORT_LINK_BASE_URL)."""

    @property
    def secret_max_age_s(self) -> int:
        """How long the secret is cached."""


def token_links(settings: LinkSettings) -> TokenLinks | None:
    """Links through the reports route when its secret and base URL are set (ReportLinkSigner=Token), else None."""
    if not (settings.report_link_token_secret and settings.report_link_base_url):
        return None
    key = token_key_from_secret(parameters.get_secret, settings.report_link_token_secret, settings.secret_max_age_s)
    return TokenLinks(key=key, base_url=settings.report_link_base_url)


# ---------------------------------------------------------------------------- events


class JobEvent(BaseModel):
    """What every job's event may carry: the scheduler's source. Keys a job does not know are ignored."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None


def both_or_neither(start: datetime | None, end: datetime | None) -> None:
    """A window's start and end come together."""
    if (start is None) != (end is None):
        raise ValueError("give both start and end, or neither")


def aware_and_ordered(start: datetime | None, end: datetime | None, example: str) -> None:
    """A window given has time zones and starts before it ends."""
    if start and end:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(f"start and end need a time zone (e.g. {example})")
        if start >= end:
            raise ValueError("start must be before end")


def span_window(
    start: datetime | None, end: datetime | None, span: timedelta, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The event's [start, end) in UTC, else `span` ending at the current hour's end (re-runs share keys)."""
    if start and end:
        return start.astimezone(UTC), end.astimezone(UTC)
    now = (now or datetime.now(UTC)).astimezone(UTC)
    stop = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return stop - span, stop


class DaysWindowEvent(JobEvent):
    """A window of predictions: start and end, or the last days to this hour's end, or the job's default days."""

    start: datetime | None = Field(None, description="Predictions made from (inclusive)")
    end: datetime | None = Field(None, description="Predictions made before (exclusive)")
    days: int | None = Field(None, ge=1, le=760, description="The window to this hour's end, this many days long")

    @model_validator(mode="after")
    def _window(self) -> DaysWindowEvent:
        both_or_neither(self.start, self.end)
        if self.start is not None and self.days is not None:
            raise ValueError("give start and end, or days, not both")
        aware_and_ordered(self.start, self.end, "2026-08-01T00:00:00Z")
        return self

    def window(self, default_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end): the event's, else the last days ending at the current hour's end."""
        return span_window(self.start, self.end, timedelta(days=self.days or default_days), now)
