"""Builds the drift function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities import parameters

from creditwatch_analytics.jobs import JobRunError, JobService, token_links
from creditwatch_analytics.lake.athena import AthenaClient
from creditwatch_analytics.lake.window import engine_for
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.log import LogReader
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.reports import Publisher, signer_from_secret
from creditwatch_drift.attribution import load_reference_contributions
from creditwatch_drift.estimated import load_calibration
from creditwatch_drift.models import DriftEvent, DriftSummary
from creditwatch_drift.service import DriftJob, load_reference
from creditwatch_drift.settings import DriftSettings
from creditwatch_drift.stability import load_stability_bins
from creditwatch_model import CreditModel, load_model

# One metric per protected attribute (CloudWatch graphs them without a dimension to pick).
DISPARATE_IMPACT_METRICS = {
    "sex": Metric.DISPARATE_IMPACT_RATIO_SEX,
    "age": Metric.DISPARATE_IMPACT_RATIO_AGE,
    "foreign_worker": Metric.DISPARATE_IMPACT_RATIO_FOREIGN_WORKER,
}


# Of the function's 600 s, what the window's Athena queries may take: the analysis and report need the rest.
WINDOW_READ_SECONDS = 480.0


@dataclass
class Deadline:
    """When the current run's window read must end: restarted by every invocation."""

    seconds: float = WINDOW_READ_SECONDS
    end: float = 0.0

    def restart(self) -> None:
        """From now."""
        self.end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left (the full budget before the first restart)."""
        return self.end - time.monotonic() if self.end else self.seconds


class DriftRunError(JobRunError):
    """The run could not do its work (the log could not be read, the report could not be written)."""


@dataclass(frozen=True)
class DriftService(JobService[DriftSettings, DriftJob, DriftEvent, DriftSummary]):
    """The built function: scheduled or on-demand drift run; answers the JSON summary."""

    event_model = DriftEvent
    event_name = "drift event"
    run_error = DriftRunError
    deadline: Deadline = field(default_factory=Deadline)

    def run(self, request: DriftEvent) -> DriftSummary:
        """The run, its window read within the deadline restarted now."""
        self.deadline.restart()
        return self.job.run(request)

    def failed(self, answer: DriftSummary) -> bool:
        """An error summary."""
        return answer.status == "error"

    def warns(self, answer: DriftSummary) -> bool:
        """A run that is not ok, or drift."""
        return answer.status != "ok" or bool(answer.dataset_drift)

    def log_extra(self, answer: DriftSummary) -> dict[str, Any]:
        """The summary's brief."""
        return {"drift": answer.brief()}

    def metrics(self, summary: DriftSummary) -> None:
        """Rows, referral rate, drift, attribution, fairness, stability, estimated AUC, history, failed runs."""
        metric = self.obs.metric
        metric(Metric.ROWS_ANALYSED, summary.rows_used)
        if summary.referral_rate is not None:
            metric(Metric.REFERRAL_RATE, summary.referral_rate, "None")
        if summary.status == "ok":
            metric(Metric.DRIFT_SHARE, summary.drift_share or 0.0, "None")
            metric(Metric.DRIFTED_FEATURES, len(summary.drifted_features))
            metric(Metric.DATASET_DRIFT, 1 if summary.dataset_drift else 0)
        if summary.attribution is not None:
            metric(Metric.ATTRIBUTION_NDCG, summary.attribution.ndcg, "None")
        if summary.fairness is not None:
            for attribute in summary.fairness.attributes:
                ratio = attribute.current.disparate_impact_ratio
                if ratio is not None:  # not judged: no data point, rather than a misleading one
                    metric(DISPARATE_IMPACT_METRICS[attribute.attribute], ratio, "None")
            metric(Metric.FAIRNESS_ALERTS, len(summary.fairness.alerts()))
        if summary.stability is not None:
            if summary.stability.score.psi is not None:
                metric(Metric.SCORE_PSI, summary.stability.score.psi, "None")
            worst = summary.stability.max_feature()
            if worst is not None and worst.psi is not None:
                metric(Metric.MAX_FEATURE_PSI, worst.psi, "None")
        estimate = summary.estimated_quality
        if estimate is not None and estimate.auc.value is not None:
            metric(Metric.ESTIMATED_AUC, estimate.auc.value, "None")
        if summary.history_updated is not None:
            metric(Metric.HISTORY_UPDATE_FAILED, 0 if summary.history_updated else 1)
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
    reader = LogReader(dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards)
    deadline = Deadline()
    athena = None
    if settings.lake_bucket and settings.athena_workgroup and settings.lake_database:
        athena = AthenaClient(
            clients.lazy("athena"), settings.athena_workgroup, settings.lake_database, remaining=deadline.remaining
        )
    elif settings.analytics_engine == "athena":
        raise ValueError("ANALYTICS_ENGINE=athena needs LAKE_BUCKET, ATHENA_WORKGROUP and LAKE_DATABASE")
    job = DriftJob(
        settings=settings,
        model=model,
        reference=load_reference(model),
        reference_contributions=load_reference_contributions(model),
        stability_bins=load_stability_bins(),
        calibration=load_calibration(),
        reader=reader,
        publisher=Publisher(
            s3=clients.lazy("s3"), bucket=settings.reports_bucket, signer=signer, tokens=token_links(settings)
        ),
        sqs=clients.lazy("sqs"),
        window=engine_for(settings, clients, model.schema.names, athena, settings.athena_above_rows),
    )
    return DriftService(settings=settings, job=job, obs=obs, deadline=deadline)
