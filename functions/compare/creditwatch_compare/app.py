"""Builds the compare function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities import parameters

from creditwatch_analytics.comparison.compare import PROTECTED_COLUMNS
from creditwatch_analytics.lake.window import engine_for
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.events import InvalidEvent, parse_event
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.reports import Publisher, TokenLinks, token_key_from_secret
from creditwatch_compare.models import CompareEvent, ComparisonSummary
from creditwatch_compare.service import CompareJob
from creditwatch_compare.settings import CompareSettings

Handler = Any


class CompareRunError(Exception):
    """The run could not do its work (the window could not be read, the report or the evidence not written)."""


@dataclass(frozen=True)
class CompareService:
    """The built function: the job and its Lambda handler."""

    settings: CompareSettings
    job: CompareJob
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Scheduled or on-demand comparison; returns the JSON summary."""
        try:
            request = parse_event(CompareEvent, event, "compare event")
        except InvalidEvent as exc:
            return exc.answer(self.obs.logger)
        summary = self.job.run(request)
        self._metrics(summary)
        log = self.obs.logger.warning if summary.status == "error" else self.obs.logger.info
        log(summary.message, extra={"comparison": {"verdict": summary.verdict, "status": summary.status}})
        if summary.status == "error":
            # A function error: Lambda retries the run, then its OnFailure destination keeps the event.
            raise CompareRunError(f"{summary.error}: {summary.message}")
        return summary.model_dump(mode="json")

    def _metrics(self, summary: ComparisonSummary) -> None:
        metric = self.obs.metric
        metric(Metric.COMPARE_RUN_FAILED, 1 if summary.status == "error" else 0)
        figures = summary.figures
        if figures is None:
            return
        metric(Metric.COMPARE_SHADOW_ROWS, figures.shadow_rows)
        auc = figures.realized.difference.get("auc")
        if auc is not None and auc.value is not None:
            metric(Metric.COMPARE_AUC_DIFFERENCE, auc.value, "None")
        if summary.history_updated is not None:
            metric(Metric.HISTORY_UPDATE_FAILED, 0 if summary.history_updated else 1)


def build(settings: CompareSettings, clients: AwsClients) -> CompareService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.COMPARE, settings)
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
    warnings = []
    if settings.analytics_engine == "athena":
        warnings.append("ANALYTICS_ENGINE=athena: the compare job reads the lake with DuckDB in the function")
    job = CompareJob(
        settings=settings,
        # No Athena client: athena reads the lake in the function, as the quality job does.
        source=engine_for(settings, clients, list(PROTECTED_COLUMNS)),
        publisher=Publisher(s3=clients.lazy("s3"), bucket=settings.reports_bucket, tokens=tokens),
        s3=clients.lazy("s3"),
        sqs=clients.lazy("sqs"),
        warnings=warnings,
    )
    return CompareService(settings=settings, job=job, obs=obs)
