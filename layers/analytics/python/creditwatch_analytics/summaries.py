"""The jobs' typed summaries (drift and quality): what they publish, and what the history and the pages read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from creditwatch_analytics.reviewed import ReviewedDecisions
from creditwatch_common.notifications import EstimatedQuality

Status = Literal["ok", "insufficient_data", "error"]
Verdict = Literal["ok", "degraded", "insufficient_labels", "no_data", "error"]

# ---------------------------------------------------------------------------- drift


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
    # When the report was written (the run's end); generated_at is when the run started.
    written_at: str | None = None
    rows_read: int
    rows_used: int
    # Who read the window: dynamodb, lake, or lake+dynamodb (auto: the lake's complete hours, the table's rest).
    engine: str | None = None
    engine_rows: dict[str, int] = {}
    sampled: bool = False
    # Of the window's scored applications (every one, not the sample), referred to a reviewer (None: not counted).
    referred_rows: int | None = None
    referral_rate: float | None = None
    # Of them, decided by a reviewer (decision fairness counts their final decision), against the model, pending.
    reviewed_rows: int | None = None
    overridden_rows: int | None = None
    pending_rows: int | None = None
    override_rate: float | None = None
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
    # The report history's page (every report, trend charts), opened like a report; same validity.
    index_url: str | None = None
    # False: the run's report is published but the history was not updated (logged, counted, in warnings).
    history_updated: bool | None = None
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
                "history_updated",
                "threshold",
                "warnings",
                "estimated_quality",
            }
        )


# ---------------------------------------------------------------------------- quality


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


Population = Literal["booked_loans", "all_scored"]


class RealizedPopulation(BaseModel):
    """Whose outcomes the realized figures rest on, and the counts that decided it (the figures' rows).

    `booked_loans`: the approved applicants with an outcome (a refused applicant gets no loan, so no repayment
    to observe); compared with validation on the holdout rows the model approves. `all_scored`: refused
    applicants have outcomes too (bureau data), at a coverage of at least half the booked loans'; compared with
    validation on the whole holdout.
    """

    name: Population
    labelled_rows: int = Field(description="Labelled rows the realized figures use")
    approved_rows: int
    approved_labelled: int
    refused_rows: int
    refused_labelled: int
    # Outcomes of refused applicants left out (booked_loans: too few to stand for the refused).
    left_out: int = 0


class JudgedAgainst(BaseModel):
    """Whose reference a quality run used: the version that scored (most of) the cohort, or the layer's and why."""

    scored_by: str = Field(description="The model version that scored most of the cohort")
    version: str = Field(description="The version whose validation, threshold and calibration were used")
    source: Literal["registry", "layer"]
    predictions: int = Field(description="Predictions of the cohort scored by scored_by")
    share: float | None = None
    threshold: float
    fallback: str | None = Field(None, description="Why the layer's figures stand in for scored_by's own")
    mixed: str | None = Field(None, description="Set when other versions scored part of the cohort")
    holdout: Literal["original", "recent"] = Field(
        "original",
        description=(
            "The holdout whose validation the realized figures were compared with: the original (UCI) one, or the "
            "card's recent labelled holdout (the world a version trained on matured outcomes was trained for)"
        ),
    )
    holdout_rows: int | None = Field(None, description="Rows of that holdout the validation figures rest on")
    holdout_note: str | None = Field(None, description="Why the original holdout when the card has a recent one")


class QualitySummary(BaseModel):
    """summary.json of a quality run (docs/operate.md explains every figure)."""

    kind: Literal["quality"] = "quality"
    run_id: str | None = None
    report_id: str | None = None
    generated_at: str
    environment: str
    # The version the cohort is judged against (judged_against says why, and for how much of the cohort).
    model_version: str
    model_versions_in_cohort: dict[str, int] = {}
    judged_against: JudgedAgainst | None = None
    # When the report was written (the run's end); generated_at is when the run started.
    written_at: str | None = None
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
    # Whose outcomes `realized` covers (None: no realized figures); `validation` is the same population's.
    population: RealizedPopulation | None = None
    realized: dict[str, Figure] = {}
    # CBPE on every scored prediction of the cohort (labelled or not), beside validation_scored.
    estimated: dict[str, Figure] = {}
    validation: dict[str, Figure] = {}
    # Validation on the whole holdout (every scored applicant): what the estimate is compared with.
    validation_scored: dict[str, Figure] = {}
    estimator: str | None = None
    calibration: list[CalibrationBand] = []
    confusion: Confusion | None = None
    fairness: dict[str, OutcomeFairness] = {}
    # Decisions reviewers took: the figures above use them where they exist (None: no figures).
    reviewed: ReviewedDecisions | None = None
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
        brief["population"] = self.population.name if self.population else None
        return brief
