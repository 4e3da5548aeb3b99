"""Builds the drift function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities import parameters
from pydantic import ValidationError

from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.log import LogReader
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.reports import Publisher, TokenLinks, signer_from_secret, token_key_from_secret
from creditwatch_drift.attribution import load_reference_contributions
from creditwatch_drift.models import DriftEvent, DriftSummary
from creditwatch_drift.service import DriftJob, load_reference
from creditwatch_drift.settings import DriftSettings
from creditwatch_model import CreditModel, load_model

Handler = Any


class DriftRunError(Exception):
    """The run could not do its work (the log could not be read, the report could not be written)."""


@dataclass(frozen=True)
class DriftService:
    """The built function: the job and its Lambda handler."""

    settings: DriftSettings
    job: DriftJob
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Scheduled or on-demand drift run; returns the JSON summary."""
        try:
            request = DriftEvent.model_validate(event or {})
        except ValidationError as exc:
            # A bad on-demand event: answer precisely, and do not let the scheduler retry it.
            errors = json.loads(exc.json(include_url=False))  # plain JSON: ctx may hold exception objects
            self.obs.logger.warning("invalid drift event", extra={"errors": errors})
            return {"status": "invalid_event", "message": "invalid drift event", "errors": errors}
        summary = self.job.run(request)
        self._metrics(summary)
        log = self.obs.logger.warning if summary.status != "ok" or summary.dataset_drift else self.obs.logger.info
        log(summary.message, extra={"drift": summary.brief()})
        if summary.status == "error":
            # A function error, not a result: Lambda retries the run, then its OnFailure destination
            # keeps the event (and the failed-runs alarm pages); the metrics above are flushed anyway.
            raise DriftRunError(f"{summary.error}: {summary.message}")
        return summary.model_dump(mode="json")

    def _metrics(self, summary: DriftSummary) -> None:
        metric = self.obs.metric
        metric(Metric.ROWS_ANALYSED, summary.rows_used)
        if summary.status == "ok":
            metric(Metric.DRIFT_SHARE, summary.drift_share or 0.0, "None")
            metric(Metric.DRIFTED_FEATURES, len(summary.drifted_features))
            metric(Metric.DATASET_DRIFT, 1 if summary.dataset_drift else 0)
        if summary.attribution is not None:
            metric(Metric.ATTRIBUTION_NDCG, summary.attribution.ndcg, "None")
        metric(Metric.DRIFT_RUN_FAILED, 1 if summary.status == "error" else 0)


def build(settings: DriftSettings, clients: AwsClients, *, model: CreditModel | None = None) -> DriftService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.DRIFT, settings)
    model = model or load_model()
    signer = (
        signer_from_secret(
            clients.client, parameters.get_secret, settings.report_signer_secret, settings.secret_max_age_s
        )
        if settings.report_signer_secret
        else None
    )
    tokens = (
        TokenLinks(
            key=token_key_from_secret(
                parameters.get_secret, settings.report_link_token_secret, settings.secret_max_age_s
            ),
            base_url=settings.report_link_base_url,
        )
        if settings.report_link_token_secret and settings.report_link_base_url
        else None
    )
    job = DriftJob(
        settings=settings,
        model=model,
        reference=load_reference(model),
        reference_contributions=load_reference_contributions(model),
        reader=LogReader(
            dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards
        ),
        publisher=Publisher(s3=clients.lazy("s3"), bucket=settings.reports_bucket, signer=signer, tokens=tokens),
        sqs=clients.lazy("sqs"),
    )
    return DriftService(settings=settings, job=job, obs=obs)
