"""The request log: every HTTP request, whatever its outcome, in the prediction log, with its metrics."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.datastructures import State
from starlette.requests import Request

from creditwatch_common.ids import uuid7
from creditwatch_common.log import LogWriter, WriteOutcome
from creditwatch_common.observability import SCORE_BINS, VERSION_DIMENSION, Metric, Observability

# Routes that are not scoring traffic get metrics of their own, so that the error-rate and latency
# alarms (Requests, ServerErrors, Latency) see scoring only, as the alerts function does.
from creditwatch_common.records import OUTCOME_ROUTES, REVIEW_ROUTES, SYNTHETIC_HEADER, SYNTHETIC_PATTERN, RejectedField
from creditwatch_predict.canary import ScoreBins
from creditwatch_predict.service import ScoredApplication, log_records
from creditwatch_predict.shadow import ShadowMiss, ShadowScorer, ShadowSource

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Where the request's log records went: written, spilled (replayed later), or logged-only (the
# decision stands; the record is only in CloudWatch Logs until someone replays it from there).
LOG_HEADER = b"x-prediction-log"
UNKNOWN_PATH = "<unknown>"
# The one error code answered here rather than by errors.error_response (which imports this module).
ANSWER_TOO_LARGE: Literal["answer_too_large"] = "answer_too_large"
# Off Lambda (creditwatch serve), how long a route's own AWS calls may take: the template's 29 s Timeout
# less the log write's reserve.
LOCAL_ROUTE_BUDGET_S = 22.0
_SYNTHETIC = SYNTHETIC_HEADER.encode()
_SYNTHETIC_VALUE = re.compile(SYNTHETIC_PATTERN)


def synthetic_of(scope: Scope) -> str | None:
    """The request's synthetic marker (`probe`, `deploy-gate`), or None: a malformed one marks nothing."""
    for name, value in scope.get("headers") or ():
        if name.lower() == _SYNTHETIC:
            text = value.decode("latin-1").strip()
            return text if _SYNTHETIC_VALUE.match(text) else None
    return None


@dataclass
class RequestLog:
    """What one request tells the log: filled by the route or the error handler, written by the middleware."""

    request_id: str
    scored: list[ScoredApplication] = field(default_factory=list)
    # A /predict answer: one record carrying the request, its inputs and its outputs.
    single: bool = False
    error_class: str | None = None
    error_detail: str | None = None
    # A rejected request's problems (names, locations, types: never values), and the body's size.
    rejected: list[RejectedField] | None = None
    rejected_count: int | None = None
    body_bytes: int | None = None
    # Answered from the idempotency store: the first request's records are the log's; none is written.
    replayed: bool = False
    # The answer could not be kept for retries (the store failed after the claim): logged, not fatal.
    idempotency_error: bool = False
    # The idempotency item (table, key) that keeps this request's answer: written on its records for erase.
    idempotency: tuple[str, str] | None = None
    # When the request's own work must be over (time.monotonic()): the log write's time comes after it.
    deadline: float = math.inf
    # POST /outcomes: results per status (its metrics; none of the scoring ones).
    outcome_counts: dict[str, int] | None = None
    # The version that scored the request (set by the route); else the champion's at logging time.
    model_version: str | None = None
    # Not an applicant (SYNTHETIC_HEADER): recorded on its records, kept out of windows and model metrics.
    synthetic: str | None = None
    # What the shadow challenger did not score (None: it scored every application, or none is set).
    shadow_miss: ShadowMiss | None = None
    # The challenger's scorer that scored this request (None: no challenger, or nothing scored).
    shadow: ShadowScorer | None = None
    # A route with a path parameter names its template here (the log keeps no client text as a route).
    route: str | None = None
    # Applications referred to review by this request, and cases the queue did not take in time.
    referred: int = 0
    not_queued: int = 0


def request_log(request: Request) -> RequestLog:
    """The request's log entry, which the middleware put on request.state."""
    entry = request.state.log
    if not isinstance(entry, RequestLog):  # pragma: no cover - only if the middleware is missing
        raise TypeError("RequestLogMiddleware is not installed")
    return entry


def answer_too_large(entry: RequestLog, size: int, bound: int) -> list[Message]:
    """The messages of a 500 `answer_too_large`, in place of an answer over the bound."""
    entry.error_class = ANSWER_TOO_LARGE
    entry.error_detail = f"answer of {size} bytes over the {bound}-byte bound"
    body = orjson.dumps(
        {
            "error": {
                "code": ANSWER_TOO_LARGE,
                "message": "The answer would exceed the API's bound; quote the request_id to support",
                "details": [],
            },
            "request_id": entry.request_id,
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": 500, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


def _request_id(scope: Scope) -> str:
    event = scope.get("aws.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else uuid7()


class TrailingSlashMiddleware:
    """`/predict/` is `/predict`: the same route, answered and logged as it (not Starlette's empty 307)."""

    def __init__(self, app: ASGIApp, *, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Drop the trailing slashes of a path the app serves without them."""
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/") and path.rstrip("/") in self.paths:
            scope = {**scope, "path": path.rstrip("/"), "raw_path": path.rstrip("/").encode()}
        await self.app(scope, receive, send)


class RequestLogMiddleware:
    """Logs every HTTP request to the prediction log and emits its metrics, whatever its outcome."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        model_version: Callable[[], str],
        writer: LogWriter,
        obs: Observability,
        max_answer_bytes: int,
        paths: frozenset[str],
        flush_metrics_per_request: bool,
        response_reserve_s: float,
        write_budget_s: float,
        score_bins: ScoreBins | None = None,
        function_version: str | None = None,
        shadow: ShadowSource | None = None,
    ) -> None:
        self.app = app
        self.score_bins = score_bins
        self.function_version = function_version
        self.shadow = shadow
        self.model_version = model_version
        self.writer = writer
        self.obs = obs
        self.max_answer_bytes = max_answer_bytes
        self.paths = paths
        self.flush = flush_metrics_per_request
        self.response_reserve_s = response_reserve_s
        self.write_budget_s = write_budget_s

    def _deadline(self, scope: Scope, now: float) -> float:
        """When the log write must be over: the Lambda's remaining time less what answering needs."""
        context = scope.get("aws.context")
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:  # not on Lambda (creditwatch serve): a budget of our own
            return now + self.write_budget_s
        return now + remaining() / 1000.0 - self.response_reserve_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: run the app, write the request's records, then answer, saying where they went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        on_lambda = getattr(scope.get("aws.context"), "get_remaining_time_in_millis", None) is not None
        deadline = self._deadline(scope, time.monotonic())
        entry = RequestLog(request_id=_request_id(scope), synthetic=synthetic_of(scope))
        # The route's own AWS calls stop in time for the log write after them (a DynamoDB attempt, then
        # one SQS attempt, then the last-resort line).
        entry.deadline = deadline - self.writer.call_timeout_s * 2 - self.writer.last_resort_reserve_s
        if not on_lambda:
            # creditwatch serve: the route gets what the template's Timeout would leave it, and the log
            # write its own budget after the route (1,000 outcomes against moto take seconds).
            entry.deadline = time.monotonic() + LOCAL_ROUTE_BUDGET_S
        State(scope.setdefault("state", {})).log = entry
        status = 500
        # The answer is held until the log write is over, so that its header can say where the record
        # went (Mangum buffers the whole answer anyway).
        held: list[Message] = []
        answer_bytes = 0

        async def hold(message: Message) -> None:
            nonlocal status, answer_bytes
            if message["type"] == "http.response.start":
                status = message["status"]
            answer_bytes += len(message.get("body", b""))
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            if entry.error_class is None:
                entry.error_class = "internal_error"
            latency_ms = (time.perf_counter() - started) * 1000.0
            if not on_lambda:
                deadline = self._deadline(scope, time.monotonic())
            self._record(scope, entry, status, latency_ms, deadline)
            raise
        if answer_bytes > self.max_answer_bytes:
            # Past Lambda's 6 MB the client would get a gateway 5xx that our metrics never see: say so
            # here, as a server error (every bound in the code should have kept the answer smaller).
            status, held = 500, answer_too_large(entry, answer_bytes, self.max_answer_bytes)
        scorer = self.shadow.current() if self.shadow is not None and status < 400 and entry.scored else None
        if scorer is not None:
            # The answer is built and held: the challenger scores for the log, within its budget.
            entry.shadow = scorer
            entry.shadow_miss = scorer.score(entry.scored)
        latency_ms = (time.perf_counter() - started) * 1000.0
        if not on_lambda:
            deadline = self._deadline(scope, time.monotonic())
        if entry.replayed:
            outcome = WriteOutcome()
            self._metrics(scope, entry, status, latency_ms, [], outcome)
            where = b"replayed"
        else:
            outcome = self._record(scope, entry, status, latency_ms, deadline)
            where = outcome.where.encode()
        if entry.idempotency_error:
            self.obs.logger.warning("answer not kept for idempotent retries", extra={"request_id": entry.request_id})
        for message in held:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (LOG_HEADER, where)]}
            await send(message)

    def _record(self, scope: Scope, entry: RequestLog, status: int, latency_ms: float, deadline: float) -> WriteOutcome:
        path = scope.get("path", "")
        # A path the app does not serve is the client's text (it can hold an e-mail address): not kept.
        route = path if path in self.paths else (entry.route or UNKNOWN_PATH)
        scored = entry.scored if status < 400 else []
        batch = log_records(
            request_id=entry.request_id,
            route=route,
            method=scope.get("method", ""),
            status=status,
            latency_ms=round(latency_ms, 3),
            model_version=entry.model_version or self.model_version(),
            scored=scored,
            single=entry.single,
            error_class=entry.error_class,
            error_detail=entry.error_detail,
            rejected_fields=entry.rejected,
            rejected_count=entry.rejected_count,
            body_bytes=entry.body_bytes if status >= 400 else None,
            idempotency=entry.idempotency if not entry.idempotency_error else None,
            synthetic=entry.synthetic,
            challenger_version=entry.shadow.version if entry.shadow is not None else None,
        )
        outcome = self.writer.write(batch.records, batch.common, deadline, batch.columns)
        self._metrics(scope, entry, status, latency_ms, scored, outcome)
        if status >= 400:
            self.obs.logger.info(
                "request rejected",
                extra={
                    "status": status,
                    "route": route,
                    "error_class": entry.error_class,
                    "request_id": entry.request_id,
                },
            )
        return outcome

    def _metrics(
        self,
        scope: Scope,
        entry: RequestLog,
        status: int,
        latency_ms: float,
        scored: list[ScoredApplication],
        outcome: WriteOutcome,
    ) -> None:
        metric = self.obs.metric
        if self.function_version:
            # Every metric also by version, for the canary's alarms; the first dimension set is unchanged.
            self.obs.also_by(**{VERSION_DIMENSION: self.function_version})
        path = scope.get("path", "")
        if entry.route in REVIEW_ROUTES or path == "/review" or path.startswith(("/reviews", "/review/")):
            metric(Metric.REVIEW_REQUESTS, 1)
            metric(Metric.REVIEW_SERVER_ERRORS, 1 if status >= 500 else 0)
        elif path in OUTCOME_ROUTES:
            metric(Metric.OUTCOME_REQUESTS, 1)
            metric(Metric.OUTCOME_SERVER_ERRORS, 1 if status >= 500 else 0)
            metric(Metric.OUTCOME_LATENCY, round(latency_ms, 3), "Milliseconds")
            counts = entry.outcome_counts or {}
            metric(Metric.OUTCOMES_RECORDED, counts.get("recorded", 0) + counts.get("corrected", 0))
            metric(Metric.OUTCOME_CONFLICTS, counts.get("conflict", 0))
        else:
            metric(Metric.REQUESTS, 1)
            metric(Metric.CLIENT_ERRORS, 1 if 400 <= status < 500 else 0)
            metric(Metric.SERVER_ERRORS, 1 if status >= 500 else 0)
            metric(Metric.LATENCY, round(latency_ms, 3), "Milliseconds")
        if scored and not entry.synthetic:
            approved = [s.score.decision for s in scored].count("approve")
            metric(Metric.PREDICTIONS, len(scored))
            metric(Metric.APPROVED, approved)
            metric(Metric.REFUSED, len(scored) - approved)
            p_good = [s.score.probability_good_credit for s in scored]
            metric(Metric.PROBABILITY_GOOD, round(sum(p_good) / len(scored), 6), "None")
            if self.score_bins is not None:
                bins = self.score_bins.counts(p_good)
                for name, n in zip(SCORE_BINS, bins, strict=True):
                    if n:
                        metric(name, n)
            if entry.shadow is not None:
                miss = entry.shadow_miss
                metric(Metric.SHADOW_FAILURES, miss.applications if miss is not None else 0)
                if miss is not None:
                    self.obs.logger.warning(
                        "shadow challenger missed applications",
                        extra={
                            "challenger_version": entry.shadow.version,
                            "missed": miss.applications,
                            "reason": miss.reason[:300],
                        },
                    )
            metric(Metric.REFERRALS, entry.referred)
        if entry.not_queued:
            metric(Metric.REVIEW_CASES_NOT_QUEUED, entry.not_queued)
        if outcome.spilled:
            metric(Metric.LOG_RECORDS_SPILLED, outcome.spilled)
        if outcome.logged_only:
            metric(Metric.LOG_RECORDS_LOGGED_ONLY, outcome.logged_only)
        if outcome.spilled or outcome.logged_only:
            self.obs.logger.warning("prediction log write degraded", extra={"errors": outcome.errors[:10]})
        if self.flush:
            self.obs.metrics.flush_metrics()
