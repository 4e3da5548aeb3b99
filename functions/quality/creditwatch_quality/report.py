"""The quality report's HTML: Evidently's classification preset on the labelled cohort, then our sections."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from creditwatch_analytics.report_page import add_to_report
from creditwatch_quality import fairness as fairness_mod
from creditwatch_quality.cohort import Cohort
from creditwatch_quality.models import Figure, QualitySummary

TARGET, PROBA = "outcome", "probability_good_credit"
LABELS = {
    "auc": "ROC AUC",
    "gini": "Gini (2 AUC - 1)",
    "ks": "KS statistic",
    "brier": "Brier score",
    "log_loss": "log loss",
    "ece": "expected calibration error (ECE)",
    "accuracy": "accuracy at the threshold",
    "approval_rate": "approval rate",
    "bad_rate_approved": "bad rate among approved",
    "expected_cost": "expected cost per applicant (UCI 5:1)",
}


def evidently_html(cohort: Cohort, threshold: float) -> bytes:
    """Evidently 0.7's ClassificationPreset on the labelled rows (outcome good/bad, P(good) as the probability)."""
    import pandas as pd
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    data = cohort.labelled()
    frame = pd.DataFrame({TARGET: ["good" if y == 1 else "bad" for y in data.y], PROBA: data.p})
    definition = DataDefinition(
        classification=[BinaryClassification(target=TARGET, prediction_probas=PROBA, pos_label="good")],
        numerical_columns=[PROBA],
        categorical_columns=[TARGET],
    )
    snapshot = Report([ClassificationPreset(probas_threshold=threshold)]).run(
        Dataset.from_pandas(frame, data_definition=definition), None
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        return path.read_bytes()


def _fig(f: Figure | None, pct: bool = False) -> str:
    if f is None or f.value is None:
        return "n/a"
    fmt = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.3f}")
    ci = f" <small>({fmt(f.low)} - {fmt(f.high)})</small>" if f.low is not None and f.high is not None else ""
    return fmt(f.value) + ci


def sample_note(summary: QualitySummary) -> str:
    """When the cohort was sampled: which rows the figures are computed on, and why the intervals still hold."""
    if summary.rows_sampled is None:
        return ""
    bad = f", {summary.bad_rows} of them bad" if summary.bad_rows is not None else ""
    return (
        '<p id="creditwatch-quality-sample"><b>Figures on a uniform sample of '
        f"{summary.labelled_rows_sampled} of {summary.labelled_rows} labelled rows</b> "
        f"({summary.rows_sampled} of {summary.rows} scored predictions{bad} in the cohort): the cohort holds more "
        "scored predictions than QUALITY_MAX_ROWS, so the realized figures, calibration, decisions and fairness "
        "are computed on the predictions of smallest sample key (random bits of the prediction id, the drift "
        "sample's key); the counts above are the whole cohort's. The bootstrap intervals are those of the "
        "sample, which hold for the cohort.</p>"
    )


def sections(summary: QualitySummary) -> str:
    """Our sections: verdict, figures realized / estimated / validation, calibration, confusion, fairness."""
    pct = {"approval_rate", "bad_rate_approved"}
    names = [k for k in LABELS if k in summary.realized or k in summary.estimated or k in summary.validation]
    rows = "".join(
        f"<tr><td>{LABELS[k]}</td><td><b>{_fig(summary.realized.get(k), k in pct)}</b></td>"
        f"<td>{_fig(summary.estimated.get(k), k in pct)}</td><td>{_fig(summary.validation.get(k), k in pct)}</td></tr>"
        for k in names
    )
    coverage = f"{summary.label_coverage:.1%}" if summary.label_coverage is not None else "n/a"
    parts = [
        '<section id="creditwatch-quality" style="font-family:sans-serif;margin:24px">',
        f"<h2>Model quality: {html.escape(summary.verdict.upper())}</h2>",
        f"<p>{html.escape(summary.message)}</p>",
        "".join(f"<p><b>{html.escape(r)}</b></p>" for r in summary.reasons),
        f"<p>Cohort: predictions made {html.escape(summary.cohort['start'])} to {html.escape(summary.cohort['end'])}; "
        f"{summary.rows} scored, {summary.labelled_rows} with an outcome (label coverage {coverage}). Model "
        f"{html.escape(summary.model_version)}. Degraded when the AUC falls more than {summary.thresholds.auc_drop} "
        f"below validation with its interval's upper bound below validation too, or the expected cost rises more "
        f"than {summary.thresholds.cost_rise} over validation with its interval's lower bound above it (noise "
        f"alone never pages); at least {summary.thresholds.min_labelled_rows} labelled rows are needed to judge.</p>",
        sample_note(summary),
        f"<p><i>{html.escape(summary.estimator or 'No estimate: ' + '; '.join(summary.warnings))}</i></p>",
        "<table border=1 cellpadding=4><tr><th>figure</th><th>realized (labelled rows)</th>"
        "<th>estimated (CBPE, whole cohort)</th><th>validation (holdout)</th></tr>" + rows + "</table>",
        f"<p>95% intervals: {html.escape(summary.interval_method or 'n/a')}.</p>",
    ]
    if summary.calibration:
        cal = "".join(
            f"<tr><td>{b.band}</td><td>{b.rows}</td>"
            f"<td>{'n/a' if b.expected_bad_rate is None else f'{b.expected_bad_rate:.3f}'}</td>"
            f"<td>{'n/a' if b.observed_bad_rate is None else f'{b.observed_bad_rate:.3f}'}</td></tr>"
            for b in summary.calibration
        )
        parts.append(
            "<h3>Calibration (bands of P(bad) = 1 - P(good))</h3><table border=1 cellpadding=4><tr><th>band</th>"
            f"<th>labelled rows</th><th>expected bad rate</th><th>observed bad rate</th></tr>{cal}</table>"
        )
    if summary.confusion:
        c = summary.confusion
        parts.append(
            f"<h3>Decisions against outcomes (threshold {c.threshold} on P(good))</h3>"
            "<table border=1 cellpadding=4><tr><th></th><th>approved</th><th>refused</th></tr>"
            f"<tr><td>good</td><td>{c.tp} (TP)</td><td>{c.fn} (FN, cost 1)</td></tr>"
            f"<tr><td>bad</td><td>{c.fp} (FP, cost 5)</td><td>{c.tn} (TN)</td></tr></table>"
        )
    parts.append("</section>")
    out = "".join(parts)
    if summary.fairness:
        out += fairness_mod.html_section(summary.fairness, summary.thresholds.min_group_size)
    return out


def render(summary: QualitySummary, cohort: Cohort | None, threshold: float) -> tuple[bytes, str | None]:
    """The whole report, and a warning when Evidently's part could not be made (our sections are always there)."""
    shell = b"<html><head><meta charset='utf-8'><title>creditwatch quality</title></head><body></body></html>"
    base, warning = shell, None
    if cohort is not None and summary.realized:
        try:
            base = evidently_html(cohort, threshold)
        except Exception as exc:  # noqa: BLE001 - the figures stand on their own; say what is missing
            warning = f"Evidently's classification preset not rendered ({type(exc).__name__})"
    return add_to_report(base, sections(summary)), warning
