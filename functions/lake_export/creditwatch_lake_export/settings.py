"""Typed settings of the lake export function, read once from the environment."""

from __future__ import annotations

from pydantic import Field

from creditwatch_common.settings import LogSettings


class LakeExportSettings(LogSettings):
    """Environment of the lake export function (names as template.yaml sets them)."""

    lake_bucket: str = Field("creditwatch-lake", validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    # Hours each run rewrites, the current one included: 3 with an hourly schedule puts every record,
    # late ones (spill replays) included, in the lake within 2 hours, and survives one missed run.
    export_hours: int = Field(3, ge=1, le=48, validation_alias="LAKE_EXPORT_HOURS")
    # The table's TTLs (PredictionTtlDays, RejectedTtlDays): no hour older than the shorter one is rebuilt
    # from the table, which may have lost records of it.
    log_ttl_days: int = Field(90, ge=1, le=3650, validation_alias="LOG_TTL_DAYS")
    rejected_ttl_days: int = Field(30, ge=1, le=3650, validation_alias="REJECTED_TTL_DAYS")
