"""What the cohort is compared with: the validation figures of a model version's metadata, and the CBPE estimate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from creditwatch_model.quality import COST_FALSE_APPROVE, COST_FALSE_REFUSE
from creditwatch_quality.models import Figure, Population

Estimator = Callable[[np.ndarray], dict[str, Figure]]
ASSUMPTION = (
    "Estimated figures (confidence-based performance estimation, as NannyML's CBPE, on every scored prediction of "
    "the cohort) assume {assumption}. Realized figures clearly below the estimate mean that relation changed."
)


def validation_figures(metadata: Mapping[str, Any], population: Population = "all_scored") -> dict[str, Figure]:
    """The holdout figures of a population with their intervals; older metadata: the holdout's points.

    all_scored: every holdout row (metrics.validation). booked_loans: the holdout rows the model approves
    (metrics.validation_approved); metadata without them gives the points its confusion matrix holds.
    """
    metrics = metadata.get("metrics", {})
    validation = metrics.get("validation" if population == "all_scored" else "validation_approved")
    if isinstance(validation, Mapping) and validation:
        return {
            k: Figure(value=v.get("value"), low=v.get("low"), high=v.get("high"))
            for k, v in validation.items()
            if isinstance(v, Mapping)
        }
    holdout = metrics.get("holdout", {})
    out: dict[str, Figure] = {}
    if "roc_auc" in holdout and population == "all_scored":
        auc = float(holdout["roc_auc"])
        out["auc"], out["gini"] = Figure(value=auc), Figure(value=round(2 * auc - 1, 6))
    matrix = holdout.get("at_threshold", {}).get("confusion_matrix", {}).get("matrix")
    if matrix:
        # rows actual (bad, good), columns predicted (refuse, approve)
        (tn, fp), (fn, tp) = matrix
        bad_rate = round(fp / (tp + fp), 6) if tp + fp else None
        out["bad_rate_approved"] = Figure(value=bad_rate)
        if population == "booked_loans":
            # Per booked loan: only approving a bad applicant costs (5).
            cost = round(COST_FALSE_APPROVE * fp / (tp + fp), 6) if tp + fp else None
            out["expected_cost"] = Figure(value=cost)
            return out
        n = tn + fp + fn + tp
        out["approval_rate"] = Figure(value=round((tp + fp) / n, 6))
        out["expected_cost"] = Figure(value=round((COST_FALSE_APPROVE * fp + COST_FALSE_REFUSE * fn) / n, 6))
    return out


def load_estimator(threshold: float, resamples: int, seed: int) -> tuple[Estimator | None, str]:
    """The CBPE estimator of the model layer with its calibration map and its assumption, or None and why not."""
    try:
        from creditwatch_model import model_dir
        from creditwatch_model.calibration import Calibration
    except ImportError:
        return None, "no estimator in this model layer: estimated figures not computed"
    try:
        calibration = Calibration.load(model_dir())
    except (OSError, ValueError, KeyError) as exc:
        return None, f"no calibration map in the model artifacts ({type(exc).__name__}): estimated figures not computed"
    return estimator_of(calibration, threshold, resamples, seed)


def estimator_of(calibration: Any, threshold: float, resamples: int, seed: int) -> tuple[Estimator | None, str]:
    """The CBPE estimator of a model version's calibration map and threshold, with its assumption."""
    try:
        from creditwatch_model.estimate import ASSUMPTION as ESTIMATOR_ASSUMPTION
        from creditwatch_model.estimate import estimate_quality
    except ImportError:
        return None, "no estimator in this model layer: estimated figures not computed"

    def estimate(p_good: np.ndarray) -> dict[str, Figure]:
        raw = estimate_quality(p_good, calibration, threshold, n_boot=resamples, seed=seed)
        return {k: Figure(value=v.get("value"), low=v.get("low"), high=v.get("high")) for k, v in raw.items()}

    return estimate, ASSUMPTION.format(assumption=ESTIMATOR_ASSUMPTION)
