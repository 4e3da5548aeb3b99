"""Payloads of the drift function: its event, its summary and its result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from creditwatch_common.notifications import EstimatedQuality

Status = Literal["ok", "insufficient_data", "error"]


class DriftEvent(BaseModel):
    """What to analyse. Scheduled runs send nothing but a source; on demand, a window."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None
    days: float | None = Field(None, gt=0, le=366, description="Window of this many days ending now")
    hours: int | None = Field(None, gt=0, le=8784, description="Window of this many hours ending now")
    start: datetime | None = None
    end: datetime | None = None
    threshold: float | None = Field(None, gt=0, le=1, description="Dataset drift threshold (drift share)")
    notify: bool = True

    @model_validator(mode="after")
    def _window(self) -> DriftEvent:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start and self.end:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a time zone (e.g. 2026-11-22T00:00:00Z)")
            if self.start >= self.end:
                raise ValueError("start must be before end")
            if self.days is not None or self.hours is not None:
                raise ValueError("give days or hours, or start and end, not both")
        if self.days is not None and self.hours is not None:
            raise ValueError("give days or hours, not both")
        return self

    def window(self, default_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) window; a days or hours window ends at the next full hour (re-runs share keys)."""
        if self.start and self.end:
            return self.start.astimezone(UTC), self.end.astimezone(UTC)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        span = timedelta(hours=self.hours) if self.hours else timedelta(days=self.days or default_days)
        return end - span, end


class FeatureDrift(BaseModel):
    """The test Evidently ran on one column, and its verdict."""

    name: str
    kind: str
    test: str | None
    statistic: Literal["p_value", "distance"] | None
    value: float | None
    threshold: float | None
    drifted: bool
    note: str | None = None


class OutputDrift(BaseModel):
    """Drift of the model's outputs against the reference predictions."""

    probability: FeatureDrift | None
    decision: FeatureDrift | None
    approval_share_current: float | None
    approval_share_reference: float
    mean_probability_current: float | None
    mean_probability_reference: float


class FeatureAttribution(BaseModel):
    """One feature's mean |contribution| to P(good) and its importance rank, window against reference."""

    name: str
    mean_abs_current: float
    mean_abs_reference: float
    rank_current: int
    rank_reference: int


class ReasonShare(BaseModel):
    """The share of refusals whose first reason is this feature."""

    feature: str
    share_current: float | None
    share_reference: float | None


class AttributionDrift(BaseModel):
    """Whether what drives the decisions changed: the importance ranking (NDCG) and the refusals' first reasons."""

    ndcg: float
    threshold: float
    drifted: bool
    rows: int
    features: list[FeatureAttribution]
    first_reasons: list[ReasonShare]
    refusals_current: int
    refusals_reference: int


class GroupRate(BaseModel):
    """One group of a protected attribute: its size, approval rate and mean P(good)."""

    group: str
    count: int
    approval_rate: float
    mean_probability: float
    # False: fewer rows than the minimum group size, so left out of the comparison.
    judged: bool


class Parity(BaseModel):
    """Demographic parity of the decisions across one attribute's groups, in one population."""

    rows: int
    groups: list[GroupRate]
    judged: bool
    note: str | None = None
    # Lowest group approval rate / highest (fairlearn's demographic_parity_ratio), with its 95% interval.
    disparate_impact_ratio: float | None = None
    ratio_interval: tuple[float, float] | None = None
    # Highest group approval rate - lowest (fairlearn's demographic_parity_difference), with its 95% interval.
    statistical_parity_difference: float | None = None
    difference_interval: tuple[float, float] | None = None
    lowest_group: str | None = None
    highest_group: str | None = None


class AttributeFairness(BaseModel):
    """One protected attribute: the window's parity beside the training reference's, and the verdict."""

    attribute: str
    current: Parity
    reference: Parity
    # Adverse impact: the ratio and its interval's upper bound both below the threshold (noise is not enough).
    below_threshold: bool
    # 95% interval of the window's ratio / the reference's, same pair of groups (None: no such pair judged).
    change_interval: tuple[float, float] | None = None
    worse_than_reference: bool = False
    # What pages: adverse impact, unless the reference already had the gap and the window is not clearly worse.
    alert: bool


class Fairness(BaseModel):
    """Decision fairness by protected group (no labels needed)."""

    threshold: float
    min_group_size: int
    age_cuts: list[int]
    confidence: float
    interval_method: str
    attributes: list[AttributeFairness]

    def alerts(self) -> list[AttributeFairness]:
        """The attributes that page: adverse impact new to the window, or worse than the reference's."""
        return [a for a in self.attributes if a.alert]

    def attribute(self, name: str) -> AttributeFairness:
        """One attribute's figures."""
        return next(a for a in self.attributes if a.attribute == name)


Band = Literal["stable", "moderate", "significant"]


class ColumnStability(BaseModel):
    """One column's PSI over bins frozen from the reference, with its band and the shares per bin."""

    name: str
    kind: str
    psi: float | None
    band: Band | None
    bins: list[str]
    share_reference: list[float]
    share_current: list[float] | None
    note: str | None = None


class Stability(BaseModel):
    """Population stability (PSI) of the score, the decisions and every feature (CSI), on frozen bins."""

    floor: float
    bins_model_version: str | None
    score: ColumnStability
    decision: ColumnStability
    approval_rate_reference: float
    approval_rate_current: float | None
    features: list[ColumnStability]

    def max_feature(self) -> ColumnStability | None:
        """The feature that moved most."""
        judged = [f for f in self.features if f.psi is not None]
        return max(judged, key=lambda f: f.psi or 0.0) if judged else None


class DriftSummary(BaseModel):
    """The JSON summary written next to the HTML report, and returned by the function."""

    status: Status
    message: str
    environment: str
    window_start: str
    window_end: str
    generated_at: str
    model_version: str
    model_versions_in_window: dict[str, int] = {}
    rows_read: int
    rows_used: int
    # Who read the window: dynamodb, lake, or lake+dynamodb (auto: the lake's complete hours, the table's rest).
    engine: str | None = None
    engine_rows: dict[str, int] = {}
    sampled: bool = False
    reference_rows: int
    min_rows: int
    threshold: float
    drift_share: float | None = None
    drifted_features: list[str] = []
    n_features: int | None = None
    dataset_drift: bool | None = None
    features: list[FeatureDrift] = []
    empty_columns: list[str] = []
    unknown_categories: dict[str, list[str]] = {}
    outputs: OutputDrift | None = None
    attribution: AttributionDrift | None = None
    fairness: Fairness | None = None
    stability: Stability | None = None
    # CBPE on the window's P(good): whether the drift is expected to hurt quality (None: no calibration shipped).
    estimated_quality: EstimatedQuality | None = None
    report_html_key: str | None = None
    summary_key: str | None = None
    # What the reports route opens (GET /reports/{report_id}) and what the deny-list names.
    report_id: str | None = None
    report_url: str | None = None
    report_url_expires_at: str | None = None
    # link-token (default) and signer-user: valid until report_url_expires_at; function-role: only until
    # the role session ends.
    report_url_signed_by: str | None = None
    warnings: list[str] = []
    notified: bool = False
    evidently_version: str | None = None
    error: str | None = None

    def brief(self) -> dict[str, Any]:
        """The fields a log line or a Slack message needs."""
        return self.model_dump(
            include={
                "status",
                "message",
                "window_start",
                "window_end",
                "engine",
                "rows_read",
                "rows_used",
                "drift_share",
                "dataset_drift",
                "drifted_features",
                "report_id",
                "report_url_signed_by",
                "threshold",
                "warnings",
                "estimated_quality",
            }
        )
