"""Typed settings of the quality function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from creditwatch_analytics.jobs import AgeCuts
from creditwatch_common.settings import EmptyIsNone, LogSettings


class QualitySettings(LogSettings):
    """Environment of the quality function (names as template.yaml sets them)."""

    reports_bucket: str = Field("creditwatch-reports", validation_alias="REPORTS_BUCKET")
    notifications_queue_url: EmptyIsNone = Field(None, validation_alias="NOTIFICATIONS_QUEUE_URL")
    report_prefix: str = Field("quality", validation_alias="QUALITY_REPORT_PREFIX")
    # The report history (creditwatch_analytics.history) every run adds its report to.
    history_prefix: str = Field("history", validation_alias="HISTORY_PREFIX")
    # The scheduled cohort: predictions made between 84 and 28 days ago (12 and 4 whole weeks). A German
    # Credit "bad" is a missed repayment, known a month or more after the decision; younger predictions
    # have too few outcomes. 84 stays inside the table's 90-day TTL (PredictionTtlDays) with a margin:
    # the cohort is read from the table, whose items expire from day 90.
    cohort_days_from: int = Field(84, ge=2, le=760, validation_alias="QUALITY_COHORT_DAYS_FROM")
    cohort_days_to: int = Field(28, ge=0, le=759, validation_alias="QUALITY_COHORT_DAYS_TO")
    # Fewer labelled rows: the figures' intervals are too wide to judge anything (insufficient_labels).
    min_labelled_rows: int = Field(200, ge=10, le=1_000_000, validation_alias="QUALITY_MIN_LABELLED_ROWS")
    # More scored predictions in the cohort: the figures are computed on a uniform sample of this many (the
    # bottom-k on the lake's sample key, the same rows from the table or the lake); the totals stay exact.
    max_rows: int = Field(500_000, ge=10_000, le=2_000_000, validation_alias="QUALITY_MAX_ROWS")
    # Degraded: AUC more than this below validation (absolute) and its interval's upper bound below validation.
    auc_drop: float = Field(0.05, gt=0, le=0.5, validation_alias="QUALITY_AUC_DROP")
    # Degraded: expected cost per applicant more than this above validation (absolute, UCI 5:1 units)
    # and its interval's lower bound above validation.
    cost_rise: float = Field(0.15, gt=0, le=5, validation_alias="QUALITY_COST_RISE")
    resamples: int = Field(1000, ge=100, le=20_000, validation_alias="QUALITY_BOOTSTRAP_RESAMPLES")
    seed: int = Field(0, validation_alias="QUALITY_SEED")
    link_expiry_seconds: int = Field(604_800, ge=60, le=604_800, validation_alias="REPORT_LINK_EXPIRY_SECONDS")
    report_link_token_secret: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_TOKEN_SECRET")
    report_link_base_url: EmptyIsNone = Field(None, validation_alias="REPORT_LINK_BASE_URL")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="REPORT_SIGNER_SECRET_MAX_AGE_SECONDS")
    # Outcome fairness: the same groups and minimum group size as the drift run's decision fairness.
    fairness_age_cuts: AgeCuts = Field((25,), validation_alias="FAIRNESS_AGE_CUTS")
    fairness_min_group_size: int = Field(30, ge=1, validation_alias="FAIRNESS_MIN_GROUP_SIZE")

    # The model registry (ModelRegistryBucket): each cohort is judged against the card and artifacts of the
    # version that scored it, and the history's charts mark the champion's moves (read only); empty: every
    # cohort against the layer model's figures (the summary says so) and no marks.
    model_registry_bucket: EmptyIsNone = Field(None, validation_alias="MODEL_REGISTRY_BUCKET")
    # Empty: no lake, auto reads the cohort from the table (lake and athena need it: engine_for refuses).
    # auto: the lake when its watermark covers the cohort.
    lake_bucket: EmptyIsNone = Field(None, validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    # Every value of the template's AnalyticsEngine (one parameter sets the drift and quality jobs). The
    # quality job has no Athena reader: athena reads the cohort from the lake with DuckDB, as lake does,
    # and says so (app.engine_note: logged at init, in every summary's warnings).
    analytics_engine: Literal["auto", "dynamodb", "lake", "athena"] = Field("auto", validation_alias="ANALYTICS_ENGINE")
    # The retrain job (its function, qualified by its alias) a degraded verdict's Slack note proposes to invoke.
    retrain_function: EmptyIsNone = Field(None, validation_alias="RETRAIN_FUNCTION")

    @model_validator(mode="after")
    def _cohort(self) -> QualitySettings:
        if self.cohort_days_to >= self.cohort_days_from:
            raise ValueError("QUALITY_COHORT_DAYS_TO must be below QUALITY_COHORT_DAYS_FROM")
        return self
