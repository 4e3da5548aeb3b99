"""Builds the quality function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditwatch_analytics.jobs import JobRunError, JobService, token_links
from creditwatch_analytics.lake.window import engine_for
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_common.reports import Publisher
from creditwatch_model import CreditModel, load_model
from creditwatch_quality.baseline import Baselines
from creditwatch_quality.models import QualityEvent, QualitySummary
from creditwatch_quality.service import QualityJob
from creditwatch_quality.settings import QualitySettings


class QualityRunError(JobRunError):
    """The run could not do its work (the log could not be read, the report could not be written)."""


@dataclass(frozen=True)
class QualityService(JobService[QualitySettings, QualityJob, QualityEvent, QualitySummary]):
    """The built function: scheduled or on-demand quality run; answers the JSON summary."""

    event_model = QualityEvent
    event_name = "quality event"
    run_error = QualityRunError

    def failed(self, answer: QualitySummary) -> bool:
        """An error verdict."""
        return answer.verdict == "error"

    def warns(self, answer: QualitySummary) -> bool:
        """A verdict other than ok or no data."""
        return answer.verdict not in ("ok", "no_data")

    def log_extra(self, answer: QualitySummary) -> dict[str, Any]:
        """The summary's brief."""
        return {"quality": answer.brief()}

    def metrics(self, summary: QualitySummary) -> None:
        """Failed runs, labelled rows and coverage, the verdict, realized and estimated figures, fairness."""
        metric = self.obs.metric
        metric(Metric.QUALITY_RUN_FAILED, 1 if summary.verdict == "error" else 0)
        if summary.verdict == "error":
            return
        if summary.history_updated is not None:
            metric(Metric.HISTORY_UPDATE_FAILED, 0 if summary.history_updated else 1)
        metric(Metric.QUALITY_LABELLED_ROWS, summary.labelled_rows)
        if summary.label_coverage is not None:
            metric(Metric.QUALITY_LABEL_COVERAGE, summary.label_coverage, "None")
        # Judged runs only: a cohort without enough labels has no verdict to graph.
        if summary.verdict in ("ok", "degraded"):
            metric(Metric.QUALITY_DEGRADED, 1 if summary.verdict == "degraded" else 0)
        for name, key in ((Metric.QUALITY_AUC, "auc"), (Metric.QUALITY_EXPECTED_COST, "expected_cost")):
            figure = summary.realized.get(key)
            if figure is not None and figure.value is not None:
                metric(name, figure.value, "None")
        estimated = summary.estimated.get("auc")
        if estimated is not None and estimated.value is not None:
            metric(Metric.QUALITY_ESTIMATED_AUC, estimated.value, "None")
        gaps = [f.equal_opportunity_difference for f in summary.fairness.values()]
        judged = [g for g in gaps if g is not None]
        if judged:
            metric(Metric.QUALITY_EQUAL_OPPORTUNITY_DIFFERENCE, max(judged), "None")


def build(settings: QualitySettings, clients: AwsClients, *, model: CreditModel | None = None) -> QualityService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.QUALITY, settings)
    model = model or load_model()
    registry = (
        ModelRegistry(clients.lazy("s3"), settings.model_registry_bucket) if settings.model_registry_bucket else None
    )
    warnings = []
    engine = engine_note(settings)
    if engine:
        # Once per cold start in the log, and in every run's summary (its warnings).
        obs.logger.info(engine, extra={"analytics_engine": settings.analytics_engine})
        warnings.append(engine)
    job = QualityJob(
        settings=settings,
        # Each cohort is judged against the version that scored it: its registered figures, the layer's as fallback.
        baselines=Baselines(model, registry, settings.resamples, settings.seed),
        # The quality job has no Athena client: athena reads the cohort from the lake (engine_note).
        source=engine_for(settings, clients, model.schema.names),
        publisher=Publisher(s3=clients.lazy("s3"), bucket=settings.reports_bucket, tokens=token_links(settings)),
        sqs=clients.lazy("sqs"),
        warnings=warnings,
        progress=obs.progress,
    )
    return QualityService(settings=settings, job=job, obs=obs)


def engine_note(settings: QualitySettings) -> str | None:
    """What ANALYTICS_ENGINE=athena means for this job, which has no Athena reader (None for the others)."""
    if settings.analytics_engine != "athena":
        return None
    return (
        "ANALYTICS_ENGINE=athena: the quality job has no Athena reader; its cohort is read from the lake "
        "by DuckDB in the function, as with lake"
    )
