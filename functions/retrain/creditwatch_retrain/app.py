"""Builds the retrain function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from creditwatch_analytics.lake.window import engine_for
from creditwatch_analytics.training.data import build_schema, read_codes
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.events import InvalidEvent, parse_event
from creditwatch_common.observability import Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_retrain.models import RetrainEvent
from creditwatch_retrain.service import RetrainJob
from creditwatch_retrain.settings import RetrainSettings

Handler = Any


class RetrainRunError(Exception):
    """The run could not do its work (the window could not be read, or the registry not read or written)."""


@dataclass(frozen=True)
class RetrainService:
    """The built function: the job and its Lambda handler."""

    settings: RetrainSettings
    job: RetrainJob
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """An on-demand retrain; returns the version registered and its card's summary, or why none was."""
        try:
            request = parse_event(RetrainEvent, event, "retrain event")
        except InvalidEvent as exc:
            return exc.answer(self.obs.logger)
        result = self.job.run(request)
        log = self.obs.logger.info if result.status == "registered" else self.obs.logger.warning
        log(result.message, extra={"retrain": result.model_dump(mode="json", exclude_none=True)})
        if result.status == "error":
            # A function error: the Errors alarm pages; an asynchronous run is retried, then kept by OnFailure.
            raise RetrainRunError(f"{result.error}: {result.message}")
        return result.model_dump(mode="json")


def build(settings: RetrainSettings, clients: AwsClients) -> RetrainService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.RETRAIN, settings)
    job = RetrainJob(
        settings=settings,
        # No Athena client: athena reads the lake in the function, as the quality job does.
        source=engine_for(settings, clients, list(build_schema(read_codes()).names)),
        registry=ModelRegistry(clients.lazy("s3"), settings.model_registry_bucket),
    )
    return RetrainService(settings=settings, job=job, obs=obs)
