"""Builds the retrain function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditwatch_analytics.jobs import JobRunError, JobService
from creditwatch_analytics.lake.window import engine_for
from creditwatch_analytics.training.data import build_schema, read_codes
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.observability import Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_retrain.models import RetrainEvent, RetrainResult
from creditwatch_retrain.service import RetrainJob
from creditwatch_retrain.settings import RetrainSettings


class RetrainRunError(JobRunError):
    """The run could not do its work (the window could not be read, or the registry not read or written)."""


@dataclass(frozen=True)
class RetrainService(JobService[RetrainSettings, RetrainJob, RetrainEvent, RetrainResult]):
    """The built function: an on-demand retrain; answers the version registered and its card, or why none was."""

    event_model = RetrainEvent
    event_name = "retrain event"
    run_error = RetrainRunError

    def failed(self, answer: RetrainResult) -> bool:
        """An error result."""
        return answer.status == "error"

    def warns(self, answer: RetrainResult) -> bool:
        """Nothing registered."""
        return answer.status != "registered"

    def log_extra(self, answer: RetrainResult) -> dict[str, Any]:
        """The whole result."""
        return {"retrain": answer.model_dump(mode="json", exclude_none=True)}


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
