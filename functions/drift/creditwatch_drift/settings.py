"""Typed settings of the drift function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from creditwatch_common.settings import LogSettings


class DriftSettings(LogSettings):
    """Environment of the drift function (names as template.yaml sets them)."""

    reports_bucket: str = Field("creditwatch-reports", validation_alias="REPORTS_BUCKET")
    notifications_queue_url: str | None = Field(None, validation_alias="NOTIFICATIONS_QUEUE_URL")
    window_days: int = Field(7, ge=1, le=90, validation_alias="DRIFT_WINDOW_DAYS")
    threshold: float = Field(0.3, gt=0, le=1, validation_alias="DRIFT_THRESHOLD")
    min_rows: int = Field(50, ge=1, validation_alias="DRIFT_MIN_ROWS")
    max_rows: int = Field(50_000, ge=100, validation_alias="DRIFT_MAX_ROWS")
    link_expiry_seconds: int = Field(604_800, ge=60, le=604_800, validation_alias="REPORT_LINK_EXPIRY_SECONDS")
    # Empty (ReportLinkSigner=FunctionRole): links are signed with the function's own role.
    report_signer_secret: str | None = Field(None, validation_alias="REPORT_SIGNER_SECRET")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="REPORT_SIGNER_SECRET_MAX_AGE_SECONDS")
    report_prefix: str = Field("drift", validation_alias="REPORT_PREFIX")
    sample_seed: int = Field(0, validation_alias="DRIFT_SAMPLE_SEED")
    # Empty: no lake, the window is read from the table whatever the engine setting says for auto.
    lake_bucket: str | None = Field(None, validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    analytics_engine: Literal["auto", "dynamodb", "lake"] = Field("auto", validation_alias="ANALYTICS_ENGINE")

    @field_validator("report_signer_secret", "lake_bucket", mode="before")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value
