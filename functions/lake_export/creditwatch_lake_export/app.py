"""Builds the lake export function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from creditwatch_analytics.jobs import EventService
from creditwatch_analytics.lake.export import LakeExporter, RewriteRefused
from creditwatch_analytics.lake.schema import LakeSchema, feature_schema
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.log import LogReader
from creditwatch_common.log.pending import PendingHours
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_lake_export.models import LakeExportEvent
from creditwatch_lake_export.settings import LakeExportSettings


@dataclass(frozen=True)
class LakeExportService(EventService[LakeExportEvent]):
    """The built function: the exporter and its Lambda handler."""

    event_model = LakeExportEvent
    event_name = "lake export event"
    settings: LakeExportSettings
    exporter: LakeExporter
    obs: Observability

    def answer(self, request: LakeExportEvent) -> dict[str, Any]:
        """Export the recent hours; a failure is a function error (Lambda retries, then OnFailure)."""
        try:
            result = self.exporter.export(request.hours or self.settings.export_hours, request.at)
        except RewriteRefused as exc:
            if request.hours is None and request.at is None:
                # The schedule's own hours past the TTL: a configuration error, failed loudly every run.
                self.obs.metric(Metric.LAKE_EXPORT_FAILED, 1)
                raise
            # An on-demand export of hours the table may have lost records of: answered, never retried.
            self.obs.logger.warning(str(exc))
            return {"status": "refused", "message": str(exc), "limit_days": exc.limit_days}
        except Exception:
            # Flushed with the error: the failed-export alarm pages on it; Lambda retries the run.
            self.obs.metric(Metric.LAKE_EXPORT_FAILED, 1)
            raise
        self.obs.metric(Metric.LAKE_EXPORT_FAILED, 0)
        self.obs.metric(Metric.LAKE_ROWS_EXPORTED, result.rows)
        self.obs.metric(Metric.LAKE_OUTCOMES_EXPORTED, result.outcome_rows)
        self.obs.metric(Metric.LAKE_HOURS_EXPORTED, len([h for h in (*result.hours, *result.late_hours) if h.rows]))
        self.obs.logger.info(
            f"exported {result.rows} record(s) and {result.outcome_rows} outcome(s) of {len(result.hours)} hour(s) "
            f"and {len(result.late_hours)} hour(s) a spill replay marked to s3://{result.bucket}",
            extra={
                "hours": [h.model_dump() for h in result.hours],
                "late_hours": [h.model_dump() for h in result.late_hours],
            },
        )
        return result.model_dump(mode="json")


def build(settings: LakeExportSettings, clients: AwsClients) -> LakeExportService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.LAKE_EXPORT, settings)
    dynamodb = clients.lazy("dynamodb")
    exporter = LakeExporter(
        reader=LogReader(dynamodb=dynamodb, table=settings.predictions_table, shards=settings.log_shards),
        s3=clients.lazy("s3"),
        bucket=settings.lake_bucket,
        schema=LakeSchema.of(feature_schema().features),
        prefix=settings.lake_prefix,
        ttl_days=settings.log_ttl_days,
        rejected_ttl_days=settings.rejected_ttl_days,
        pending=PendingHours(dynamodb, settings.predictions_table),
    )
    return LakeExportService(settings=settings, exporter=exporter, obs=obs)
