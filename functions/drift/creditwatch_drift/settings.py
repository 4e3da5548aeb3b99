"""Typed settings of the drift function, read once from the environment."""

from __future__ import annotations

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
    # ReportLinkSigner=Token (the default): links through the reports route, minted with this secret's key.
    report_link_token_secret: str | None = Field(None, validation_alias="REPORT_LINK_TOKEN_SECRET")
    # The API's base URL (the stack's ApiUrl output); links are <base>reports/<report_id>?t=<token>.
    report_link_base_url: str | None = Field(None, validation_alias="REPORT_LINK_BASE_URL")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="REPORT_SIGNER_SECRET_MAX_AGE_SECONDS")
    report_prefix: str = Field("drift", validation_alias="REPORT_PREFIX")
    sample_seed: int = Field(0, validation_alias="DRIFT_SAMPLE_SEED")
    # Attribution drift fires below this NDCG of the importance order (SageMaker Model Monitor's default).
    attribution_threshold: float = Field(0.9, gt=0, le=1, validation_alias="ATTRIBUTION_NDCG_THRESHOLD")
    attribution_max_rows: int = Field(20_000, ge=100, validation_alias="ATTRIBUTION_MAX_ROWS")

    @field_validator("report_signer_secret", "report_link_token_secret", "report_link_base_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value
