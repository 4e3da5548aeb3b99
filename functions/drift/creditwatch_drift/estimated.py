"""Estimated quality of the drift window (CBPE on its own P(good)), to tell whether input drift hurts the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from creditwatch_common.notifications import Estimate, EstimatedQuality
from creditwatch_model import CreditModel, model_dir
from creditwatch_model.calibration import CALIBRATION_FILE, Calibration
from creditwatch_model.estimate import ASSUMPTION, estimate_quality, quality_holds

# Figures in the order the report lists them, with how each is shown.
SHOWN = (
    ("auc", "ROC AUC", "{:.3f}"),
    ("gini", "Gini", "{:.3f}"),
    ("accuracy", "accuracy at the threshold", "{:.1%}"),
    ("approval_rate", "approval rate", "{:.1%}"),
    ("bad_rate_approved", "bad rate among approved", "{:.1%}"),
    ("expected_cost", "expected cost per applicant (5:1)", "{:.3f}"),
    ("brier", "Brier score", "{:.4f}"),
    ("log_loss", "log loss", "{:.4f}"),
)


def load_calibration(directory: Path | None = None) -> Calibration | None:
    """The calibration that ships with the model; None for a model trained before it existed."""
    path = (directory or model_dir()) / CALIBRATION_FILE
    return Calibration.load(path.parent) if path.exists() else None


def validation_figures(model: CreditModel) -> dict[str, Any]:
    """The holdout figures in the model's metadata (validation, else the older holdout AUC alone)."""
    metrics = model.metadata.get("metrics", {})
    validation = metrics.get("validation")
    if validation:
        return dict(validation)
    return {"auc": {"value": metrics.get("holdout", {}).get("roc_auc"), "low": None, "high": None}}


def estimated_quality(
    p_good: np.ndarray,
    model: CreditModel,
    calibration: Calibration,
    max_auc_drop: float,
    resamples: int,
    seed: int,
) -> EstimatedQuality | None:
    """CBPE on the window's scores against the validation AUC; None if the model has no validation AUC."""
    validation_auc = validation_figures(model)["auc"]["value"]
    if validation_auc is None:
        return None
    figures = estimate_quality(p_good, calibration, model.threshold, n_boot=resamples, seed=seed)
    verdict = quality_holds(figures, float(validation_auc), max_auc_drop)
    return EstimatedQuality(
        auc=Estimate(**figures["auc"]),
        holds=verdict["holds"],
        validation_auc=float(validation_auc),
        max_auc_drop=max_auc_drop,
        rows=len(p_good),
        reasons=verdict["reasons"],
        figures={name: Estimate(**figure) for name, figure in figures.items()},
        assumption=ASSUMPTION,
    )


def headline(result: EstimatedQuality) -> str:
    """One clause for the run's message: the estimated AUC, its interval and whether quality holds."""
    auc = result.auc
    if auc.value is None:
        return "estimated quality: n/a"
    verdict = "holds" if result.holds else "does not hold"
    return (
        f"estimated AUC {auc.value:.3f} [{_num(auc.low)}, {_num(auc.high)}] vs validation "
        f"{result.validation_auc:.3f}: estimated quality {verdict}"
    )


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
