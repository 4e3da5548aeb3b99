"""What the report history keeps of one report: its verdicts and the figures of the trend charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from creditwatch_analytics.comparison.models import ComparisonSummary
from creditwatch_analytics.summaries import DriftSummary, QualitySummary
from creditwatch_common.reports import REPORT_ID, ReportKind

Summary = DriftSummary | QualitySummary | ComparisonSummary


class Estimate(BaseModel):
    """A figure with its 95% interval."""

    model_config = ConfigDict(extra="ignore")

    value: float | None = None
    low: float | None = None
    high: float | None = None


class RatioPoint(BaseModel):
    """One protected attribute's ratio in one run (drift: disparate impact; quality: equal opportunity)."""

    attribute: str
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    judged: bool = False
    alert: bool = False
    # The pair of groups compared (lowest rate first), and whether the training reference had the gap too.
    lowest_group: str | None = None
    highest_group: str | None = None
    as_in_reference: bool = False


class HistoryEntry(BaseModel):
    """What the index shows of one report: its verdicts and the figures of the trend charts."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1] = 1
    kind: ReportKind
    report_id: str
    report_html_key: str | None = None
    summary_key: str | None = None
    window_start: str
    window_end: str
    generated_at: str
    # When the report was written (the run's end); older entries lack it and show generated_at.
    written_at: str | None = None
    environment: str | None = None
    model_version: str | None = None
    status: str = "ok"
    # drift: "drift" | "no_drift"; quality: the quality verdict (ok, degraded, insufficient_labels, no_data).
    verdict: str
    message: str = ""
    rows: int | None = None
    # Drift figures.
    drift_share: float | None = None
    drift_threshold: float | None = None
    drifted_features: list[str] = []
    n_features: int | None = None
    attribution_ndcg: float | None = None
    attribution_threshold: float | None = None
    attribution_drifted: bool | None = None
    score_psi: float | None = None
    score_psi_band: str | None = None
    approval_rate: float | None = None
    approval_rate_reference: float | None = None
    disparate_impact: list[RatioPoint] = []
    fairness_threshold: float | None = None
    fairness_alerts: list[str] = []
    # Quality figures (the realized ones need outcomes); drift runs carry the estimate alone.
    reasons: list[str] = []
    label_coverage: float | None = None
    auc_realized: Estimate | None = None
    auc_estimated: Estimate | None = None
    auc_validation: float | None = None
    estimate_holds: bool | None = None
    # Whose outcomes auc_realized covers (booked_loans, all_scored); auc_validation is the whole holdout's.
    population: str | None = None
    # Outcome fairness of a quality run: the equal-opportunity ratio by attribute.
    equal_opportunity: list[RatioPoint] = []
    # Human review: the window's share referred to a reviewer (drift), and of the decisions a reviewer took on
    # the window's (drift) or cohort's (quality) applications, the share against the model.
    referral_rate: float | None = None
    reviewed_rows: int | None = None
    override_rate: float | None = None
    # A comparison (champion against challenger): its versions, the challenger's approval rate and AUC difference.
    challenger_version: str | None = None
    approval_rate_challenger: float | None = None
    auc_difference: Estimate | None = None

    @property
    def key(self) -> str:
        """The entry's name under entries/: sorts by generation time, unique by report id."""
        return f"{_compact(self.generated_at)}.{self.report_id}.json"


def _compact(stamp: str) -> str:
    return "".join(c for c in stamp if c not in "-:")


class NotAnEntry(ValueError):
    """A summary the history cannot record (no report, or not a known kind)."""


def parse_summary(summary: Mapping[str, Any]) -> Summary:
    """A stored summary's JSON as its typed model (quality by its kind or id, drift otherwise)."""
    report_id = str(summary.get("report_id") or "")
    if summary.get("kind") == "comparison" or report_id.startswith("comparison."):
        return ComparisonSummary.model_validate(summary)
    quality = summary.get("kind") == "quality" or report_id.startswith("quality.")
    return QualitySummary.model_validate(summary) if quality else DriftSummary.model_validate(summary)


def entry_from_summary(summary: Summary | Mapping[str, Any]) -> HistoryEntry:
    """The history entry of a published report's summary (drift or quality); NotAnEntry if it has none."""
    if isinstance(summary, Mapping):
        raw = summary
        try:
            summary = parse_summary(raw)
        except ValidationError as exc:
            raise NotAnEntry(f"summary of {raw.get('report_id')} is not a drift or quality summary") from exc
    report_id = summary.report_id
    if report_id is None or not REPORT_ID.fullmatch(report_id):
        state = summary.verdict if isinstance(summary, QualitySummary) else summary.status
        raise NotAnEntry(f"no report id in the summary ({state})")
    if isinstance(summary, ComparisonSummary):
        return _comparison_entry(summary, report_id)
    if isinstance(summary, QualitySummary):
        return _quality_entry(summary, report_id)
    return _drift_entry(summary, report_id)


def _drift_entry(s: DriftSummary, report_id: str) -> HistoryEntry:
    ratios = []
    if s.fairness is not None:
        for a in s.fairness.attributes:
            interval = a.current.ratio_interval or (None, None)
            ratios.append(
                RatioPoint(
                    attribute=a.attribute,
                    ratio=a.current.disparate_impact_ratio,
                    low=interval[0],
                    high=interval[1],
                    judged=a.current.judged,
                    alert=a.alert,
                    lowest_group=a.current.lowest_group,
                    highest_group=a.current.highest_group,
                    as_in_reference=a.below_threshold and not a.alert,
                )
            )
    stability, outputs, estimated = s.stability, s.outputs, s.estimated_quality
    approval = stability.approval_rate_current if stability else None
    if approval is None and outputs is not None:
        approval = outputs.approval_share_current
    reference = stability.approval_rate_reference if stability else None
    if reference is None and outputs is not None:
        reference = outputs.approval_share_reference
    return HistoryEntry(
        kind="drift",
        window_start=s.window_start,
        window_end=s.window_end,
        verdict="drift" if s.dataset_drift else "no_drift",
        rows=s.rows_used,
        drift_share=s.drift_share,
        drift_threshold=s.threshold,
        drifted_features=list(s.drifted_features),
        n_features=s.n_features,
        attribution_ndcg=s.attribution.ndcg if s.attribution else None,
        attribution_threshold=s.attribution.threshold if s.attribution else None,
        attribution_drifted=s.attribution.drifted if s.attribution else None,
        score_psi=stability.score.psi if stability else None,
        score_psi_band=stability.score.band if stability else None,
        approval_rate=approval,
        approval_rate_reference=reference,
        disparate_impact=ratios,
        fairness_threshold=s.fairness.threshold if s.fairness else None,
        fairness_alerts=[r.attribute for r in ratios if r.alert],
        auc_estimated=Estimate.model_validate(estimated.auc.model_dump()) if estimated else None,
        auc_validation=estimated.validation_auc if estimated else None,
        estimate_holds=estimated.holds if estimated else None,
        referral_rate=s.referral_rate,
        reviewed_rows=s.reviewed_rows,
        override_rate=s.override_rate,
        report_id=report_id,
        report_html_key=s.report_html_key,
        summary_key=s.summary_key,
        generated_at=s.generated_at,
        written_at=s.written_at,
        environment=s.environment,
        model_version=s.model_version,
        status=s.status,
        message=s.message,
    )


def _quality_entry(s: QualitySummary, report_id: str) -> HistoryEntry:
    def estimate(figures: Mapping[str, Any], name: str) -> Estimate | None:
        figure = figures.get(name)
        return Estimate.model_validate(figure.model_dump()) if figure is not None and figure.value is not None else None

    approval = estimate(s.realized, "approval_rate") or estimate(s.estimated, "approval_rate")
    # The whole holdout's AUC, the line the estimates are read against (summaries before it: `validation`).
    validation = (s.validation_scored or s.validation).get("auc")
    ratios = [
        RatioPoint(
            attribute=name,
            ratio=f.equal_opportunity_ratio,
            low=f.ratio_interval[0] if f.ratio_interval else None,
            high=f.ratio_interval[1] if f.ratio_interval else None,
            judged=f.judged and f.equal_opportunity_ratio is not None,
            lowest_group=f.lowest_group,
            highest_group=f.highest_group,
        )
        for name, f in s.fairness.items()
    ]
    reviewed = s.reviewed
    return HistoryEntry(
        kind="quality",
        reviewed_rows=reviewed.reviewed_rows if reviewed else None,
        override_rate=(
            round(reviewed.overridden_rows / reviewed.reviewed_rows, 6) if reviewed and reviewed.reviewed_rows else None
        ),
        window_start=s.cohort.get("start", ""),
        window_end=s.cohort.get("end", ""),
        verdict=s.verdict,
        rows=s.rows,
        reasons=list(s.reasons),
        label_coverage=s.label_coverage,
        auc_realized=estimate(s.realized, "auc"),
        auc_estimated=estimate(s.estimated, "auc"),
        auc_validation=validation.value if validation is not None else None,
        population=s.population.name if s.population else None,
        approval_rate=approval.value if approval else None,
        equal_opportunity=ratios,
        report_id=report_id,
        report_html_key=s.report_html_key,
        summary_key=s.summary_key,
        generated_at=s.generated_at,
        written_at=s.written_at,
        environment=s.environment,
        model_version=s.model_version,
        status="error" if s.verdict == "error" else "ok",
        message=s.message,
    )


def _comparison_entry(s: ComparisonSummary, report_id: str) -> HistoryEntry:
    f = s.figures
    auc = f.realized.difference.get("auc") if f is not None else None
    return HistoryEntry(
        kind="comparison",
        window_start=s.window_start,
        window_end=s.window_end,
        verdict=s.verdict or s.status,
        rows=f.shadow_rows if f is not None else 0,
        reasons=list(f.reasons) if f is not None else [],
        approval_rate=s.approval_rate.get("champion"),
        approval_rate_challenger=s.approval_rate.get("challenger"),
        score_psi=f.score_psi if f is not None else None,
        auc_difference=Estimate.model_validate(auc.model_dump()) if auc is not None and auc.value is not None else None,
        challenger_version=s.challenger_version,
        report_id=report_id,
        report_html_key=s.report_html_key,
        summary_key=s.summary_key,
        generated_at=s.generated_at,
        written_at=s.written_at,
        environment=s.environment,
        model_version=s.champion_version,
        status="error" if s.status == "error" else "ok",
        message=s.message,
    )
