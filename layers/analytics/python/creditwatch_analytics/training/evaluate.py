"""The decision threshold, the calibration map and the holdout figures written into metadata.json."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold

from creditwatch_analytics.training.data import COST_FALSE_APPROVE, COST_FALSE_REFUSE, RANDOM_STATE
from creditwatch_model import quality
from creditwatch_model.calibration import Calibration, logit
from creditwatch_model.canonical import canonical_float


def expected_cost(y_true: np.ndarray, p_good: np.ndarray, threshold: float, weights: np.ndarray | None = None) -> float:
    """Mean UCI cost per application when approving at P(good) >= threshold (weighted, when weights are given)."""
    approve = p_good >= threshold
    if weights is not None:
        cost = COST_FALSE_APPROVE * (approve & (y_true == 0)) + COST_FALSE_REFUSE * (~approve & (y_true == 1))
        return float(np.sum(cost * weights) / np.sum(weights))
    false_approve = np.sum(approve & (y_true == 0))
    false_refuse = np.sum(~approve & (y_true == 1))
    return float((COST_FALSE_APPROVE * false_approve + COST_FALSE_REFUSE * false_refuse) / len(y_true))


def choose_threshold(y_true: np.ndarray, p_good: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Threshold on P(good) of minimum expected cost (weighted, when weights are given), searched on a 0.005 grid."""
    grid = np.round(np.arange(0.30, 0.951, 0.005), 3)
    costs = [expected_cost(y_true, p_good, float(t), weights) for t in grid]
    best = int(np.argmin(costs))  # argmin keeps the lowest threshold among ties
    return float(grid[best]), float(costs[best])


def class_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix."""
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=[0, 1])
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 6),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i, label in enumerate(["bad", "good"])
        },
        "confusion_matrix": {
            "labels": ["bad (0)", "good (1)"],
            "rows_are": "actual",
            "columns_are": "predicted",
            "matrix": cm.tolist(),
        },
    }


def fit_calibration(p_good: np.ndarray, y_true: np.ndarray) -> Calibration:
    """Sigmoid (Platt) map from P(good) to P(bad), fitted on out-of-fold predictions; isotonic compared by CV."""
    bad = 1 - y_true
    sigmoid = LogisticRegression(C=np.inf).fit(logit(p_good)[:, None], bad)
    cv = StratifiedKFold(n_splits=10, shuffle=True, random_state=RANDOM_STATE)
    losses: dict[str, list[float]] = {"sigmoid": [], "isotonic": []}
    for fit_rows, check_rows in cv.split(p_good, bad):
        s = LogisticRegression(C=np.inf).fit(logit(p_good[fit_rows])[:, None], bad[fit_rows])
        losses["sigmoid"].append(log_loss(bad[check_rows], s.predict_proba(logit(p_good[check_rows])[:, None])[:, 1]))
        iso = IsotonicRegression(out_of_bounds="clip", increasing=False).fit(p_good[fit_rows], bad[fit_rows])
        losses["isotonic"].append(log_loss(bad[check_rows], iso.predict(p_good[check_rows]), labels=[0, 1]))
    full = IsotonicRegression(out_of_bounds="clip", increasing=False).fit(p_good, bad)
    return Calibration(
        method="sigmoid",
        # Canonical as calibration.json writes them, so the holdout check measures the map that ships.
        slope=canonical_float(sigmoid.coef_[0, 0]),
        intercept=canonical_float(sigmoid.intercept_[0]),
        info={
            "maps": "P(bad) = 1 / (1 + exp(-(slope * logit(P(good)) + intercept)))",
            "fitted_on": f"5-fold out-of-fold P(good) of the training split ({len(y_true)} rows)",
            "why": (
                "two parameters, monotone, never exactly 0 or 1, and the lower 10-fold cross-validated log loss "
                "on the out-of-fold predictions; isotonic regression (NannyML's default) overfits a few hundred "
                "rows: its end steps claim certainty (isotonic_end_steps), so a window of confident scores "
                "would be estimated with no bad outcomes at all"
            ),
            "cv_log_loss": {name: round(float(np.mean(v)), 6) for name, v in losses.items()},
            "isotonic_end_steps": {
                "p_bad_at_lowest_p_good": round(float(full.predict(p_good.min(keepdims=True))[0]), 6),
                "p_bad_at_highest_p_good": round(float(full.predict(p_good.max(keepdims=True))[0]), 6),
            },
        },
    )


def calibration_check(calibration: Calibration, p_good: np.ndarray, y_true: np.ndarray) -> dict[str, Any]:
    """Served vs calibrated P(bad) on the holdout: mean, Brier and ECE against the observed bad rate."""
    bad = 1 - y_true
    served, calibrated = 1 - p_good, calibration.bad_probability(p_good)

    def ece(p_bad: np.ndarray) -> float:
        band = quality.band_index(p_bad)
        gaps = np.bincount(band, weights=p_bad - bad, minlength=quality.BANDS)
        return float(np.abs(gaps).sum() / len(bad))

    return {
        "rows": len(bad),
        "observed_bad_rate": round(float(bad.mean()), 6),
        "served": {
            "mean_p_bad": round(float(served.mean()), 6),
            "brier": round(float(np.mean((served - bad) ** 2)), 6),
            "ece": round(ece(served), 6),
        },
        "calibrated": {
            "mean_p_bad": round(float(calibrated.mean()), 6),
            "brier": round(float(np.mean((calibrated - bad) ** 2)), 6),
            "ece": round(ece(calibrated), 6),
        },
    }
