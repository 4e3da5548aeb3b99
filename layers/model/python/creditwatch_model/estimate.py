"""Estimated quality before outcomes arrive: confidence-based performance estimation (NannyML's CBPE) in numpy.

Assumption: no concept drift. The calibrated P(bad) of a score is taken to be the chance that such an
applicant turns out bad, as it was on the training data; inputs may move (covariate shift) and the estimate
follows them, but if the relation between inputs and outcome changes the estimate cannot see it.

Point estimates, as NannyML's CBPE: each row counts as calibrated P(bad) of a bad outcome and 1 - P(bad) of a
good one; the expected confusion entries are sums of these over approved and refused rows, and every figure
linear in them (accuracy, approval rate, bad rate among approved, expected cost, Brier, log loss) is its exact
expectation. ROC AUC is NannyML's `estimate_roc_auc`: the ROC curve traced with these expected counts in the
order of the served scores (ties as one step), integrated by the trapezoid rule.

Intervals: a parametric bootstrap of the realized figure. Each resample reweighs the window's rows by
Poisson(1) counts (another cohort of this size from this population) and draws each copy's outcome from its
calibrated P(bad) (the outcomes still to come); the figures of each resample are computed exactly as the
realized ones (creditwatch_model.quality), and the 2.5% and 97.5% percentiles bound them. So the interval
says where the realized figure should fall once outcomes are known, and is comparable with the realized
figure's own bootstrap interval. (NannyML instead scales a standard error measured on reference data by
1/sqrt(n); the resampling here needs no reference data at run time and covers every figure the same way.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from creditwatch_model.calibration import Calibration
from creditwatch_model.quality import (
    CONFIDENCE,
    COST_FALSE_APPROVE,
    COST_FALSE_REFUSE,
    RESAMPLES,
    Figure,
    FloatArray,
    Scored,
    interval_summary,
    resample_figures,
)

ESTIMATED = ("auc", "gini", "brier", "log_loss", "accuracy", "approval_rate", "bad_rate_approved", "expected_cost")
ASSUMPTION = (
    "no concept drift: the calibrated P(bad) of a score is the chance such an applicant turns out bad, as on the "
    "training data; input (covariate) shift is allowed, a changed relation between inputs and outcome is not seen"
)
# The estimate "holds" while estimated AUC stays within this of the validation AUC (the quality job's default drop).
MAX_AUC_DROP = 0.05


def estimate_quality(
    p_good: npt.ArrayLike,
    calibration: Calibration,
    threshold: float,
    cost_fn: float = COST_FALSE_APPROVE,
    cost_fp: float = COST_FALSE_REFUSE,
    n_boot: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Figure]:
    """CBPE estimate of each figure of ESTIMATED with its interval ({"value", "low", "high"}; None where undefined).

    cost_fn is the cost of approving a bad applicant (a default missed), cost_fp of refusing a good one.
    """
    scored = Scored(p_good, threshold=threshold, cost_false_approve=cost_fn, cost_false_refuse=cost_fp)
    q = calibration.bad_probability(scored.p)
    values = scored.figures(q[None, :], (1 - q)[None, :])

    def draw(rng: np.random.Generator, k: int) -> tuple[FloatArray, FloatArray]:
        w = rng.poisson(1.0, size=(k, scored.n))
        bad = rng.binomial(w, q).astype(float)
        return bad, w - bad

    draws = resample_figures(scored, draw, n_boot, seed, ESTIMATED)
    return {name: interval_summary(float(values[name][0]), draws[name], confidence) for name in ESTIMATED}


def expected_confusion(p_good: npt.ArrayLike, calibration: Calibration, threshold: float) -> dict[str, float]:
    """CBPE's expected confusion counts at the threshold (positive = good, predicted positive = approved)."""
    scored = Scored(p_good, threshold=threshold)
    q = calibration.bad_probability(scored.p)
    figures = scored.figures(q[None, :], (1 - q)[None, :])
    return {"threshold": threshold, **{k: round(float(figures[k][0]), 6) for k in ("tp", "fp", "tn", "fn")}}


def quality_holds(
    estimate: dict[str, Figure], validation_auc: float, max_auc_drop: float = MAX_AUC_DROP
) -> dict[str, Any]:
    """Whether estimated AUC stays within max_auc_drop of validation: {"auc", "holds", "validation_auc", "reasons"}."""
    auc = estimate.get("auc") or {"value": None, "low": None, "high": None}
    value = auc.get("value")
    floor = validation_auc - max_auc_drop
    if value is None:
        holds, reasons = False, ["estimated AUC undefined (no rows to estimate on): cannot say quality holds"]
    elif value < floor:
        holds, reasons = False, [f"estimated AUC {value:.3f} < validation {validation_auc:.3f} - {max_auc_drop:g}"]
    else:
        holds, reasons = True, [f"estimated AUC {value:.3f} >= validation {validation_auc:.3f} - {max_auc_drop:g}"]
    return {
        "auc": auc,
        "holds": holds,
        "validation_auc": validation_auc,
        "max_auc_drop": max_auc_drop,
        "reasons": reasons,
    }
