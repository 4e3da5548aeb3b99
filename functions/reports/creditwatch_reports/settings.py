"""Typed settings of the reports function, read once from the environment."""

from __future__ import annotations

from pydantic import Field, field_validator

from creditwatch_common.settings import FunctionSettings


class ReportsSettings(FunctionSettings):
    """Environment of the reports function (names as template.yaml sets them)."""

    reports_bucket: str = Field("creditwatch-reports", validation_alias="REPORTS_BUCKET")
    report_prefix: str = Field("drift", validation_alias="REPORT_PREFIX")
    quality_report_prefix: str = Field("quality", validation_alias="QUALITY_REPORT_PREFIX")
    token_secret: str = Field("creditwatch/dev/report-link-token", validation_alias="REPORT_LINK_TOKEN_SECRET")
    # Report ids that no token opens any more (an SSM StringList); empty: no deny-list.
    revoked_parameter: str | None = Field(None, validation_alias="REPORT_LINKS_REVOKED_PARAMETER")
    # The S3 link the route redirects to: minutes, well within the role session that signs it.
    presign_seconds: int = Field(300, ge=10, le=3600, validation_alias="REPORT_PRESIGN_SECONDS")
    # How stale the key and the deny-list may be: a rotation or a revocation takes effect within this.
    cache_max_age_s: int = Field(60, ge=0, le=900, validation_alias="REPORT_LINK_CACHE_MAX_AGE_SECONDS")

    @field_validator("revoked_parameter", mode="before")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value
