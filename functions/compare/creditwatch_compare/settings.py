"""Typed settings of the compare function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditwatch_analytics.jobs import AgeCuts
from creditwatch_common.settings import EmptyIsNone, LogSettings


class CompareSettings(LogSettings):
    """Environment of the compare function (names as template.yaml sets them)."""

    reports_bucket: str = Field("creditwatch-reports", validation_alias="REPORTS_BUCKET")
    report_prefix: str = Field("comparison", validation_alias="COMPARE_REPORT_PREFIX")
    history_prefix: str = Field("history", validation_alias="HISTORY_PREFIX")
    notifications_queue_url: EmptyIsNone = Field(None, validation_alias="NOTIFICATIONS_QUEUE_URL")
    # Where the evidence goes (creditwatch_common.model_registry: evidence/<challenger>/...); empty: not written.
    model_registry_bucket: EmptyIsNone = Field(None, validation_alias="MODEL_REGISTRY_BUCKET")
    # The scheduled window: the last this many days of shadow traffic, and the outcomes matured in it.
    window_days: int = Field(28, ge=1, le=760, validation_alias="COMPARE_WINDOW_DAYS")
    # Over this many scored records, the shadow figures are computed on a uniform sample (bottom-k on the
    # lake's sample key); the paired intervals are the sample's.
    max_rows: int = Field(2_000_000, ge=1000, le=5_000_000, validation_alias="COMPARE_MAX_ROWS")
    max_labelled_rows: int = Field(200_000, ge=1000, le=2_000_000, validation_alias="COMPARE_MAX_LABELLED_ROWS")
    # The verdict's rule (docs/operate.md, "Champion against challenger").
    min_shadow_rows: int = Field(500, ge=1, validation_alias="COMPARE_MIN_SHADOW_ROWS")
    min_labelled_rows: int = Field(200, ge=10, validation_alias="COMPARE_MIN_LABELLED_ROWS")
    max_approval_change: float = Field(0.10, gt=0, le=1, validation_alias="COMPARE_MAX_APPROVAL_CHANGE")
    fairness_tolerance: float = Field(0.0, ge=0, le=1, validation_alias="COMPARE_FAIRNESS_TOLERANCE")
    resamples: int = Field(1000, ge=100, le=20_000, validation_alias="COMPARE_BOOTSTRAP_RESAMPLES")
    seed: int = Field(0, validation_alias="COMPARE_SEED")
    fairness_age_cuts: AgeCuts = Field((25,), validation_alias="FAIRNESS_AGE_CUTS")
    fairness_min_group_size: int = Field(30, ge=1, validation_alias="FAIRNESS_MIN_GROUP_SIZE")
    link_expiry_seconds: int = Field(604_800, ge=60, le=604_800, validation_alias="REPORT_LINK_EXPIRY_SECONDS")
    report_link_token_secret: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_TOKEN_SECRET")
    report_link_base_url: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_BASE_URL")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="REPORT_SIGNER_SECRET_MAX_AGE_SECONDS")
    lake_bucket: EmptyIsNone = Field(None, validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    # As the quality job: no Athena reader here, athena reads the lake with DuckDB in the function.
    analytics_engine: Literal["auto", "dynamodb", "lake", "athena"] = Field("auto", validation_alias="ANALYTICS_ENGINE")
