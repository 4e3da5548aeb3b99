"""The quality report's HTML: our sections (the verdict and its figures first), then Evidently's preset."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from creditwatch_analytics.report_page import add_to_report, quality_sections
from creditwatch_quality.cohort import Cohort
from creditwatch_quality.models import QualitySummary

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
    with warnings.catch_warnings():
        # Booked loans were all approved: the preset's precision of refusals is undefined by construction.
        warnings.filterwarnings("ignore", message="Precision is ill-defined")
        snapshot = Report([ClassificationPreset(probas_threshold=threshold)]).run(
            Dataset.from_pandas(frame, data_definition=definition), None
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        snapshot.save_html(str(path))
        return path.read_bytes()


def render(summary: QualitySummary, cohort: Cohort | None, threshold: float) -> tuple[bytes, str | None]:
    """The whole report, and a warning when Evidently's part could not be made (our sections are always there)."""
    shell = b"<html><head><meta charset='utf-8'><title>creditwatch quality</title></head><body></body></html>"
    base, warning = shell, None
    if cohort is not None and summary.realized:
        try:
            base = evidently_html(cohort, threshold)
        except Exception as exc:  # noqa: BLE001 - the figures stand on their own; say what is missing
            warning = f"Evidently's classification preset not rendered ({type(exc).__name__})"
    # Our sections lead (the verdict and its figures), Evidently's preset follows.
    return add_to_report(base, quality_sections(summary, LABELS)), warning
