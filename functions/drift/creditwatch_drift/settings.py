"""Typed settings of the drift function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditwatch_analytics.jobs import AgeCuts
from creditwatch_common.settings import EmptyIsNone, LogSettings


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
    report_signer_secret: EmptyIsNone = Field(None, validation_alias="REPORT_SIGNER_SECRET")
    # ReportLinkSigner=Token (the default): links through the reports route, minted with this secret's key.
    report_link_token_secret: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_TOKEN_SECRET")
    # The API's base URL (the stack's ApiUrl output); links are <base>reports/<report_id>?t=<token>.
    report_link_base_url: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_BASE_URL")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="REPORT_SIGNER_SECRET_MAX_AGE_SECONDS")
    report_prefix: str = Field("drift", validation_alias="REPORT_PREFIX")
    # The report history (index.html and its entries) every run updates after publishing its report.
    history_prefix: str = Field("history", validation_alias="HISTORY_PREFIX")
    # The model registry: the history's charts mark the champion's moves (read only); empty: no marks.
    model_registry_bucket: EmptyIsNone = Field(None, validation_alias="MODEL_REGISTRY_BUCKET")
    sample_seed: int = Field(0, validation_alias="DRIFT_SAMPLE_SEED")
    # Attribution drift fires below this NDCG of the importance order (SageMaker Model Monitor's default).
    attribution_threshold: float = Field(0.9, gt=0, le=1, validation_alias="ATTRIBUTION_NDCG_THRESHOLD")
    attribution_max_rows: int = Field(20_000, ge=100, validation_alias="ATTRIBUTION_MAX_ROWS")
    # Decision fairness: the four-fifths rule's 0.8 on the disparate impact ratio.
    fairness_threshold: float = Field(0.8, gt=0, le=1, validation_alias="FAIRNESS_THRESHOLD")
    # Age bands start at these ages ("25": under 25 / 25 and over; "25,60": three bands).
    fairness_age_cuts: AgeCuts = Field((25,), validation_alias="FAIRNESS_AGE_CUTS")
    # Smaller groups are shown but not judged: their approval rate is too noisy to compare.
    fairness_min_group_size: int = Field(30, ge=1, validation_alias="FAIRNESS_MIN_GROUP_SIZE")
    fairness_resamples: int = Field(2000, ge=100, le=100_000, validation_alias="FAIRNESS_BOOTSTRAP_RESAMPLES")
    # Estimated quality (CBPE) "holds" while estimated AUC stays within this of the validation AUC.
    estimate_max_auc_drop: float = Field(0.05, ge=0, le=0.5, validation_alias="ESTIMATE_MAX_AUC_DROP")
    estimate_resamples: int = Field(1000, ge=100, le=100_000, validation_alias="ESTIMATE_BOOTSTRAP_RESAMPLES")

    # Empty: no lake, the window is read from the table whatever the engine setting says for auto.
    lake_bucket: EmptyIsNone = Field(None, validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    analytics_engine: Literal["auto", "dynamodb", "lake", "athena"] = Field("auto", validation_alias="ANALYTICS_ENGINE")
    # auto reads a lake window above this many records through Athena (bench/window_bench.py's crossover).
    athena_above_rows: int = Field(32_000_000, ge=1, validation_alias="ANALYTICS_ATHENA_ABOVE_ROWS")
    # The lake's Athena workgroup and Glue database; empty: no athena engine (auto stays in the function).
    athena_workgroup: EmptyIsNone = Field(None, validation_alias="ATHENA_WORKGROUP")
    lake_database: EmptyIsNone = Field(None, validation_alias="LAKE_DATABASE")
