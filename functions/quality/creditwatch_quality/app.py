"""Builds the quality function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities import parameters

from creditwatch_analytics.lake.window import engine_for
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.events import InvalidEvent, parse_event
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_common.reports import Publisher, TokenLinks, token_key_from_secret
from creditwatch_model import CreditModel, load_model
from creditwatch_quality.baseline import Baselines
from creditwatch_quality.models import QualityEvent, QualitySummary
from creditwatch_quality.service import QualityJob
from creditwatch_quality.settings import QualitySettings

Handler = Any


class QualityRunError(Exception):
    """The run could not do its work (the log could not be read, the report could not be written)."""


@dataclass(frozen=True)
class QualityService:
    """The built function: the job and its Lambda handler."""

    settings: QualitySettings
    job: QualityJob
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Scheduled or on-demand quality run; returns the JSON summary."""
        try:
            request = parse_event(QualityEvent, event, "quality event")
        except InvalidEvent as exc:
            # A bad on-demand event: answer precisely, and do not let the scheduler retry it.
            return exc.answer(self.obs.logger)
        summary = self.job.run(request)
        self._metrics(summary)
        log = self.obs.logger.info if summary.verdict in ("ok", "no_data") else self.obs.logger.warning
        log(summary.message, extra={"quality": summary.brief()})
        if summary.verdict == "error":
            # A function error: Lambda retries the run, then its OnFailure destination keeps the event.
            raise QualityRunError(f"{summary.error}: {summary.message}")
        return summary.model_dump(mode="json")

    def _metrics(self, summary: QualitySummary) -> None:
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
        publisher=Publisher(s3=clients.lazy("s3"), bucket=settings.reports_bucket, tokens=tokens),
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
