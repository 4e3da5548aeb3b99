"""Builds the reports function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities import parameters

from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.reports import LinkRefused, revoked_ids, token_key_from_secret
from creditwatch_reports.models import ReportRequest
from creditwatch_reports.service import ReportGate, redirect, refused
from creditwatch_reports.settings import ReportsSettings

Handler = Any


@dataclass(frozen=True)
class ReportsService:
    """The built function: the gate and its Lambda handler."""

    settings: ReportsSettings
    gate: ReportGate
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.wrap(lambda event, _context: self.handle(event), correlation_id_path="requestContext.requestId")

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """`GET /reports/{report_id}?t=<token>`: 302 to the report, or 403 whatever the reason."""
        request = ReportRequest.from_event(event)
        try:
            opened = self.gate.open(request)
        except LinkRefused as exc:
            # The reason is ours to know (the audit log); the caller gets the same 403 every time.
            self.obs.logger.warning(
                "report link refused",
                extra={
                    "audit": {
                        "event": "report_link_refused",
                        "reason": exc.reason.value,
                        "report_id": request.report_id,
                        "source_ip": request.source_ip,
                        "user_agent": request.user_agent,
                        "request_id": request.request_id,
                    }
                },
            )
            self.obs.metric(Metric.REPORT_LINKS_REFUSED, 1)
            return refused(request.request_id)
        # The audit log: who opened what and when (never the token or the S3 link, both credentials).
        self.obs.logger.info("report opened", extra={"audit": opened.audit.model_dump(mode="json")})
        self.obs.metric(Metric.REPORTS_OPENED, 1)
        return redirect(opened.location)


def _revoked(settings: ReportsSettings, get_parameter: Callable[..., Any]) -> Callable[[], frozenset[str]]:
    name = settings.revoked_parameter
    if not name:
        return frozenset
    return lambda: revoked_ids(get_parameter(name, max_age=settings.cache_max_age_s))


def build(
    settings: ReportsSettings,
    clients: AwsClients,
    *,
    get_secret: Callable[..., Any] | None = None,
    get_parameter: Callable[..., Any] | None = None,
) -> ReportsService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.REPORTS, settings)
    gate = ReportGate(
        s3=clients.lazy("s3"),
        bucket=settings.reports_bucket,
        prefix=settings.report_prefix,
        key=token_key_from_secret(get_secret or parameters.get_secret, settings.token_secret, settings.cache_max_age_s),
        revoked=_revoked(settings, get_parameter or parameters.get_parameter),
        presign_seconds=settings.presign_seconds,
        kind_prefixes={"quality": settings.quality_report_prefix, "history": settings.history_prefix},
    )
    return ReportsService(settings=settings, gate=gate, obs=obs)
