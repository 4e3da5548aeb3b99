"""Builds the compare function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditwatch_analytics.comparison.compare import PROTECTED_COLUMNS
from creditwatch_analytics.jobs import JobRunError, JobService, token_links
from creditwatch_analytics.lake.window import engine_for
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.reports import Publisher
from creditwatch_compare.models import CompareEvent, ComparisonSummary
from creditwatch_compare.service import CompareJob
from creditwatch_compare.settings import CompareSettings


class CompareRunError(JobRunError):
    """The run could not do its work (the window could not be read, the report or the evidence not written)."""


@dataclass(frozen=True)
class CompareService(JobService[CompareSettings, CompareJob, CompareEvent, ComparisonSummary]):
    """The built function: scheduled or on-demand comparison; answers the JSON summary."""

    event_model = CompareEvent
    event_name = "compare event"
    run_error = CompareRunError

    def failed(self, answer: ComparisonSummary) -> bool:
        """An error summary."""
        return answer.status == "error"

    def warns(self, answer: ComparisonSummary) -> bool:
        """An error summary."""
        return answer.status == "error"

    def log_extra(self, answer: ComparisonSummary) -> dict[str, Any]:
        """The verdict and status."""
        return {"comparison": {"verdict": answer.verdict, "status": answer.status}}

    def metrics(self, answer: ComparisonSummary) -> None:
        """Failed runs, shadow rows, the AUC difference, the history's update."""
        metric = self.obs.metric
        metric(Metric.COMPARE_RUN_FAILED, 1 if answer.status == "error" else 0)
        figures = answer.figures
        if figures is None:
            return
        metric(Metric.COMPARE_SHADOW_ROWS, figures.shadow_rows)
        auc = figures.realized.difference.get("auc")
        if auc is not None and auc.value is not None:
            metric(Metric.COMPARE_AUC_DIFFERENCE, auc.value, "None")
        if answer.history_updated is not None:
            metric(Metric.HISTORY_UPDATE_FAILED, 0 if answer.history_updated else 1)


def build(settings: CompareSettings, clients: AwsClients) -> CompareService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.COMPARE, settings)
    warnings = []
    if settings.analytics_engine == "athena":
        warnings.append("ANALYTICS_ENGINE=athena: the compare job reads the lake with DuckDB in the function")
    job = CompareJob(
        settings=settings,
        # No Athena client: athena reads the lake in the function, as the quality job does.
        source=engine_for(settings, clients, list(PROTECTED_COLUMNS)),
        publisher=Publisher(s3=clients.lazy("s3"), bucket=settings.reports_bucket, tokens=token_links(settings)),
        s3=clients.lazy("s3"),
        sqs=clients.lazy("sqs"),
        warnings=warnings,
    )
    return CompareService(settings=settings, job=job, obs=obs)
