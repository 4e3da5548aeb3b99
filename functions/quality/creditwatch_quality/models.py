"""Payloads of the quality function: its event and its summary (the contract the index and the demo read)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Verdict = Literal["ok", "degraded", "insufficient_labels", "no_data", "error"]


class QualityEvent(BaseModel):
    """Which cohort to judge. Scheduled runs send a source only; on demand, prediction times or days ago."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None
    start: datetime | None = Field(None, description="First prediction time of the cohort (inclusive)")
    end: datetime | None = Field(None, description="End of the cohort's prediction times (exclusive)")
    days_ago_from: int | None = Field(None, ge=1, le=760, description="Cohort starts this many days ago (00:00 UTC)")
    days_ago_to: int | None = Field(None, ge=0, le=759, description="Cohort ends this many days ago (00:00 UTC)")
    notify: bool = True

    @model_validator(mode="after")
    def _cohort(self) -> QualityEvent:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if (self.days_ago_from is None) != (self.days_ago_to is None):
            raise ValueError("give both days_ago_from and days_ago_to, or neither")
        if self.start is not None and self.days_ago_from is not None:
            raise ValueError("give start and end, or days_ago_from and days_ago_to, not both")
        if self.start and self.end:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a time zone (e.g. 2026-08-01T00:00:00Z)")
            if self.start >= self.end:
                raise ValueError("start must be before end")
        if self.days_ago_from is not None and self.days_ago_to is not None and self.days_ago_from <= self.days_ago_to:
            raise ValueError("days_ago_from must be larger than days_ago_to (the cohort starts further back)")
        return self

    def cohort(self, days_from: int, days_to: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) of prediction times; days-ago cohorts fall on UTC midnights (a day's reruns share it)."""
        if self.start and self.end:
            return self.start.astimezone(UTC), self.end.astimezone(UTC)
        today = datetime.combine((now or datetime.now(UTC)).astimezone(UTC).date(), time(0), tzinfo=UTC)
        frm = self.days_ago_from if self.days_ago_from is not None else days_from
        to = self.days_ago_to if self.days_ago_to is not None else days_to
        return today - timedelta(days=frm), today - timedelta(days=to)


class Figure(BaseModel):
    """One figure with its 95% interval (None when it has none, e.g. validation figures without one)."""

    value: float | None
    low: float | None = None
    high: float | None = None


class CalibrationBand(BaseModel):
    """Expected (mean P(bad)) against observed bad rate of the labelled rows in one P(bad) band."""

    band: str
    rows: int
    expected_bad_rate: float | None
    observed_bad_rate: float | None


class Confusion(BaseModel):
    """The confusion matrix at the model's threshold; positive = good credit, predicted positive = approved."""

    threshold: float
    tp: int  # approved, good
    fp: int  # approved, bad (the costly error: 5)
    tn: int  # refused, bad
    fn: int  # refused, good (cost 1)


class GroupOutcome(BaseModel):
    """One group of a protected attribute, among the cohort's labelled rows."""

    count: int
    goods: int
    bads: int
    # Approved among good applicants (equal opportunity), with its Jeffreys 95% interval.
    true_positive_rate: float | None
    tpr_interval: tuple[float, float] | None
    # Approved among bad applicants.
    false_approval_rate: float | None
    far_interval: tuple[float, float] | None
    # Calibration by group: mean P(good) against the observed good rate (Jeffreys 95% interval).
    mean_probability: float
    observed_good_rate: float
    good_rate_interval: tuple[float, float]
    judged: bool


class OutcomeFairness(BaseModel):
    """Outcome fairness of one protected attribute: rates by group and the equal-opportunity gap."""

    rows: int
    groups: dict[str, GroupOutcome]
    judged: bool
    note: str | None = None
    # Highest group TPR - lowest (fairlearn's equal_opportunity_difference), lowest / highest (its ratio).
    equal_opportunity_difference: float | None = None
    difference_interval: tuple[float, float] | None = None
    equal_opportunity_ratio: float | None = None
    ratio_interval: tuple[float, float] | None = None
    lowest_group: str | None = None
    highest_group: str | None = None
    # The same for approvals of bad applicants (equalized odds' other half).
    false_approval_difference: float | None = None


class Thresholds(BaseModel):
    """What the verdict was judged against."""

    min_labelled_rows: int
    auc_drop: float
    cost_rise: float
    min_group_size: int
    resamples: int


class QualitySummary(BaseModel):
    """summary.json of a quality run (docs/operate.md explains every figure)."""

    kind: Literal["quality"] = "quality"
    run_id: str | None = None
    report_id: str | None = None
    generated_at: str
    environment: str
    model_version: str
    model_versions_in_cohort: dict[str, int] = {}
    # Who read the cohort: dynamodb (the table, within its TTL) or lake (the exported hours and outcomes).
    engine: str | None = None
    cohort: dict[str, str]
    rows: int = Field(description="Scored predictions of the cohort (all of it, also when the figures use a sample)")
    labelled_rows: int = Field(description="Of them, with an outcome (all of the cohort, also when sampled)")
    label_coverage: float | None = Field(description="labelled_rows / rows; None when the cohort is empty")
    bad_rows: int | None = Field(
        None, description="Of the labelled rows, those whose latest outcome is bad (all of the cohort)"
    )
    rows_sampled: int | None = Field(
        None,
        description="Scored predictions of the uniform sample the figures, calibration, confusion and fairness "
        "are computed on (bottom-k on the sample key), when the cohort holds more than QUALITY_MAX_ROWS; "
        "None when they use every row",
    )
    labelled_rows_sampled: int | None = Field(
        None, description="Of the sampled rows, those with an outcome (the figures' rows); None when not sampled"
    )
    verdict: Verdict
    message: str
    reasons: list[str] = []
    thresholds: Thresholds
    realized: dict[str, Figure] = {}
    estimated: dict[str, Figure] = {}
    validation: dict[str, Figure] = {}
    estimator: str | None = None
    calibration: list[CalibrationBand] = []
    confusion: Confusion | None = None
    fairness: dict[str, OutcomeFairness] = {}
    interval_method: str | None = None
    report_url: str | None = None
    report_url_expires_at: str | None = None
    report_url_signed_by: str | None = None
    report_html_key: str | None = None
    summary_key: str | None = None
    index_url: str | None = None
    # False: the run's report is published but the history was not updated (logged, counted, in warnings).
    history_updated: bool | None = None
    warnings: list[str] = []
    notified: bool = False
    evidently_version: str | None = None
    error: str | None = None

    def brief(self) -> dict[str, Any]:
        """The fields a log line needs."""
        brief = self.model_dump(
            include={"verdict", "message", "cohort", "rows", "labelled_rows", "label_coverage", "reasons", "report_id"}
        )
        brief["auc"] = self.realized["auc"].value if "auc" in self.realized else None
        return brief
