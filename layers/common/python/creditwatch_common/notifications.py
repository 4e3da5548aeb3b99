"""Messages one function sends another through the notifications queue: typed, versioned, dispatched by type.

The drift and quality functions send; the alerts function, the one path to Slack, receives. A
message of a type or version this code does not know is rejected (dead-lettered by the queue's
redrive policy), never guessed at.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Message(BaseModel):
    """Fields every message has."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = 1
    # One Slack post per key: the alerts function dedupes on it.
    dedupe_key: str
    environment: str


class Estimate(BaseModel):
    """One estimated figure and its 95% interval (None where undefined)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    value: float | None = None
    low: float | None = None
    high: float | None = None


class EstimatedQuality(BaseModel):
    """Quality estimated from a window's own P(good) before outcomes arrive (CBPE; creditwatch_model.estimate).

    `holds`: estimated AUC within `max_auc_drop` of the validation AUC. It assumes no concept drift, so it says
    whether input drift is expected to hurt the model, not that outcomes will bear it out.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    auc: Estimate
    holds: bool
    validation_auc: float
    max_auc_drop: float = 0.05
    rows: int = 0
    reasons: list[str] = []
    # Every estimated figure (auc, gini, brier, log_loss, accuracy, approval_rate, bad_rate_approved, expected_cost).
    figures: dict[str, Estimate] = {}
    assumption: str = "no concept drift"


class DriftDetected(_Message):
    """The drift job found dataset drift in a window; the report is published."""

    type: Literal["drift_detected"] = "drift_detected"
    window_start: str
    window_end: str
    drift_share: float | None
    threshold: float
    drifted_features: list[str]
    n_features: int | None
    rows_used: int
    model_version: str
    report_url: str | None
    report_url_expires_at: str | None
    # link-token (default) and signer-user: valid until report_url_expires_at; function-role: only until
    # the role session ends.
    report_url_signed_by: str | None
    summary_key: str | None
    # The report history (every report, trend charts); None from senders that predate it.
    index_url: str | None = None
    # Attribution drift (what drives the decisions changed): the importance order's NDCG and its verdict.
    attribution_ndcg: float | None = None
    attribution_threshold: float | None = None
    attribution_drifted: bool = False
    dataset_drift: bool = True
    # Added within version 1 (optional both ways): senders before it send none; readers before it ignore it.
    estimated_quality: EstimatedQuality | None = None


class RunFailed(_Message):
    """A scheduled job could not do its work (the run is retried by Lambda; this tells people why)."""

    type: Literal["run_failed"] = "run_failed"
    job: str
    window_start: str | None = None
    window_end: str | None = None
    error: str
    message: str


class FairnessAlert(_Message):
    """A drift run found the approval rates of one protected attribute's groups apart beyond the threshold."""

    type: Literal["fairness_alert"] = "fairness_alert"
    window_start: str
    window_end: str
    attribute: str
    # Lowest group approval rate / highest, its 95% interval, and the threshold both are below.
    disparate_impact_ratio: float
    ratio_interval: tuple[float, float]
    threshold: float
    statistical_parity_difference: float | None
    lowest_group: str
    lowest_rate: float
    lowest_count: int
    highest_group: str
    highest_rate: float
    highest_count: int
    reference_ratio: float | None
    # 95% interval of the window's ratio / the reference's (same pair of groups); below 1: clearly worse.
    change_interval: tuple[float, float] | None = None
    rows_used: int
    model_version: str
    report_url: str | None
    report_url_expires_at: str | None
    report_url_signed_by: str | None
    summary_key: str | None
    index_url: str | None = None


class Interval(BaseModel):
    """A figure and its 95% interval (None where it has none)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    value: float | None
    low: float | None = None
    high: float | None = None


class QualityAlert(_Message):
    """A quality run found the model degraded on a cohort with outcomes (AUC or expected cost past validation)."""

    type: Literal["quality_alert"] = "quality_alert"
    cohort_start: str
    cohort_end: str
    reasons: list[str]
    rows: int
    labelled_rows: int
    label_coverage: float | None
    # Per figure (auc, gini, expected_cost, bad_rate_approved, approval_rate): realized on the labelled
    # rows, estimated (CBPE) on the whole cohort, and the model's validation figure.
    realized: dict[str, Interval]
    estimated: dict[str, Interval]
    validation: dict[str, Interval]
    model_version: str
    report_url: str | None
    report_url_expires_at: str | None
    report_url_signed_by: str | None
    summary_key: str | None
    # The report history page (optional: senders before it omit it).
    index_url: str | None = None
    # Whose outcomes `realized` covers: booked_loans (then `validation` is the holdout rows the model approves,
    # and `estimated` still covers every scored prediction) or all_scored; None from senders before it.
    population: str | None = None
    # Which holdout booked loans were compared with (original, or the card's recent labelled one) and on how
    # many of its approved rows (QualitySummary.judged_against); None from senders before it.
    holdout: Literal["original", "recent"] | None = None
    holdout_rows: int | None = None
    # The retrain job's function (name:alias) the note proposes to invoke; None: the CLI's command only.
    retrain_function: str | None = None


class DeploymentGateFailed(_Message):
    """A deployment hook failed a new version (CodeDeploy rolls it back): which one, and the one-line reason."""

    type: Literal["deployment_gate_failed"] = "deployment_gate_failed"
    hook: Literal["pre_traffic", "post_traffic"]
    deployment_id: str
    function: str
    target_version: str | None = None
    model_version: str | None = None
    reason: str


class ComparisonReady(_Message):
    """A compare run judged the challenger against the champion (promote, hold or reject); the report is published."""

    type: Literal["comparison_ready"] = "comparison_ready"
    window_start: str
    window_end: str
    champion_version: str
    challenger_version: str
    verdict: Literal["promote", "hold", "reject"]
    reasons: list[str]
    shadow_rows: int
    # approved by both, champion only, challenger only, neither
    swap_set: dict[str, int]
    approval_rate: dict[str, float | None]
    labelled_rows: int = 0
    auc_difference: Interval | None = None
    report_url: str | None = None
    report_url_expires_at: str | None = None
    report_url_signed_by: str | None = None
    index_url: str | None = None


AnyNotification = DriftDetected | RunFailed | FairnessAlert | QualityAlert | DeploymentGateFailed | ComparisonReady
Notification = Annotated[AnyNotification, Field(discriminator="type")]
_ADAPTER: TypeAdapter[AnyNotification] = TypeAdapter(Notification)


class InvalidNotification(ValueError):
    """A message body that is not a notification this code knows (type, version or fields)."""


def parse_notification(body: str | bytes) -> AnyNotification:
    """The typed message of a queue body; InvalidNotification if it is not one."""
    try:
        return _ADAPTER.validate_json(body)
    except ValidationError as exc:
        # The errors' types and locations only: a body may hold anything.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['type']}" for e in exc.errors())
        raise InvalidNotification(problems[:500]) from None


def dump_notification(message: AnyNotification) -> str:
    """The queue body of a message."""
    return message.model_dump_json()
