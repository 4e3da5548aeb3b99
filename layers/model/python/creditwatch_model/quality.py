"""Model quality figures from P(good) and outcomes, defined once (numpy only) for validation, the quality job and CBPE.

Conventions: the positive class is good credit (target 1), scored by P(good); approved = predicted positive
(P(good) >= threshold). So tp = approved good, fp = approved bad (costs 5 under the UCI matrix), tn = refused
bad, fn = refused good (costs 1). ECE and the calibration table use 10 equal-width bands of P(bad) = 1 - P(good).

Every figure is computed from two weight matrices over the rows, `bad` and `good` (resamples x rows: how many
bad and good outcomes each row stands for in that resample), so one code path serves the realized figures
(weights = the outcome, times a bootstrap count), their bootstrap, and the estimate (weights = outcomes drawn
from calibrated probabilities). Rows are sorted by P(good) once: AUC and KS of a resample are cumulative sums
over the distinct scores, the other figures matrix products.

The bootstrap is the Poisson bootstrap (each row weighed by a Poisson(1) count per resample: the large-n
limit of resampling n rows with replacement, and drawn without a sort or gather per resample), 95%
percentile intervals, fixed seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Figure = dict[str, float | None]

METRICS = (
    "auc",
    "gini",
    "ks",
    "brier",
    "log_loss",
    "ece",
    "approval_rate",
    "bad_rate_approved",
    "expected_cost",
    "accuracy",
)
BANDS = 10
CONFIDENCE = 0.95
RESAMPLES = 1000
# UCI German Credit cost matrix: approving a bad applicant costs 5, refusing a good one 1.
COST_FALSE_APPROVE = 5.0
COST_FALSE_REFUSE = 1.0
# Cells (resamples x rows) per block of resamples: ~2 M floats, ~16 MB per weight matrix.
_BLOCK_CELLS = 2_000_000


def band_labels(bands: int = BANDS) -> list[str]:
    """Readable P(bad) bands: '0.0-0.1', ..., '0.9-1.0'."""
    return [f"{i / bands:.1f}-{(i + 1) / bands:.1f}" for i in range(bands)]


def band_index(p_bad: FloatArray, bands: int = BANDS) -> npt.NDArray[np.intp]:
    """The P(bad) band of each row (the last band includes 1.0)."""
    return np.clip((np.asarray(p_bad, dtype=float) * bands).astype(np.intp), 0, bands - 1)


class Scored:
    """What every resample of one set of scored rows shares: order by P(good), distinct scores, per-row terms."""

    def __init__(
        self,
        p_good: npt.ArrayLike,
        approved: npt.ArrayLike | None = None,
        threshold: float | None = None,
        cost_false_approve: float = COST_FALSE_APPROVE,
        cost_false_refuse: float = COST_FALSE_REFUSE,
    ) -> None:
        p = np.asarray(p_good, dtype=float)
        if p.ndim != 1:
            raise ValueError("p_good must be one-dimensional")
        if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("p_good must be probabilities in [0, 1]")
        if approved is None:
            if threshold is None:
                raise ValueError("give the decisions taken (approved) or the threshold that took them")
            approve = p >= threshold
        else:
            approve = np.asarray(approved, dtype=bool)
            if approve.shape != p.shape:
                raise ValueError("approved must have one entry per row")
        # A stable sort: rows keep their order within a score, so results do not depend on the sort.
        self.order = np.argsort(p, kind="stable")
        p = p[self.order]
        self.n = len(p)
        self.p = p
        self.starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if self.n else np.zeros(0, dtype=np.intp)
        self.approved = approve[self.order].astype(float)
        self.refused = 1.0 - self.approved
        self.cost_false_approve = cost_false_approve
        self.cost_false_refuse = cost_false_refuse
        eps = np.finfo(float).eps
        clipped = np.clip(p, eps, 1 - eps)
        # Per-row losses if the row is bad / good (squared error and log loss of P(good)).
        self.sq_bad, self.sq_good = p**2, (1 - p) ** 2
        self.ll_bad, self.ll_good = -np.log(1 - clipped), -np.log(clipped)
        p_bad = 1 - p
        self.bands = np.zeros((self.n, BANDS))
        self.bands[np.arange(self.n), band_index(p_bad)] = 1.0
        self.p_bad_bands = self.bands * p_bad[:, None]

    def figures(self, bad: FloatArray, good: FloatArray) -> dict[str, FloatArray]:
        """Every figure for each resample (row of the weight matrices, in the sorted order of the rows)."""
        total = bad.sum(1) + good.sum(1)
        pos = np.add.reduceat(good, self.starts, axis=1)
        neg = np.add.reduceat(bad, self.starts, axis=1)
        n_pos, n_neg = pos.sum(1), neg.sum(1)
        weight = bad + good
        with np.errstate(invalid="ignore", divide="ignore"):
            # P(score of a good > score of a bad), ties counted half: the Mann-Whitney form of ROC AUC.
            below = np.cumsum(neg, 1) - neg
            auc = (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)
            ks = np.abs(np.cumsum(pos, 1) / n_pos[:, None] - np.cumsum(neg, 1) / n_neg[:, None]).max(1, initial=0.0)
            tp, fp = good @ self.approved, bad @ self.approved
            tn, fn = bad @ self.refused, good @ self.refused
            approved = tp + fp
            return {
                "auc": auc,
                "gini": 2 * auc - 1,
                "ks": np.where((n_pos > 0) & (n_neg > 0), ks, np.nan),
                "brier": (bad @ self.sq_bad + good @ self.sq_good) / total,
                "log_loss": (bad @ self.ll_bad + good @ self.ll_good) / total,
                "ece": np.abs(weight @ self.p_bad_bands - bad @ self.bands).sum(1) / total,
                "approval_rate": approved / total,
                "bad_rate_approved": fp / approved,
                "expected_cost": (self.cost_false_approve * fp + self.cost_false_refuse * fn) / total,
                "accuracy": (tp + tn) / total,
                "tp": tp,
                "fp": fp,
                "tn": tn,
                "fn": fn,
            }

    def block_size(self, resamples: int) -> int:
        """Resamples per block so that a block's weight matrices stay ~16 MB each."""
        return max(1, min(resamples, _BLOCK_CELLS // max(self.n, 1)))


def _outcomes(good: npt.ArrayLike, n: int) -> FloatArray:
    y = np.asarray(good)
    if y.shape != (n,):
        raise ValueError("good must have one outcome per row")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("good must be 1 (good) or 0 (bad)")
    return y.astype(float)


def point(
    p_good: npt.ArrayLike,
    good: npt.ArrayLike,
    approved: npt.ArrayLike | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """Each realized figure (NaN where undefined, e.g. AUC with one class only) and the confusion counts."""
    scored = Scored(p_good, approved, threshold)
    y = _outcomes(good, scored.n)[scored.order][None, :]
    return {name: float(values[0]) for name, values in scored.figures(1 - y, y).items()}


def interval_summary(value: float, draws: FloatArray, confidence: float = CONFIDENCE) -> Figure:
    """{"value", "low", "high"} rounded to 6 places: percentile interval of the finite draws; None where undefined."""
    if not np.isfinite(value):
        return {"value": None, "low": None, "high": None}
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return {"value": _round(value), "low": None, "high": None}
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return {"value": _round(value), "low": _round(low), "high": _round(high)}


def resample_figures(
    scored: Scored,
    draw: Callable[[np.random.Generator, int], tuple[FloatArray, FloatArray]],
    resamples: int,
    seed: int,
    names: tuple[str, ...] = METRICS,
) -> dict[str, FloatArray]:
    """Every figure over `resamples` resamples, drawn in blocks by `draw(rng, k) -> (bad, good)` weights."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[FloatArray]] = {name: [] for name in names}
    done, block = 0, scored.block_size(resamples)
    while done < resamples:
        k = min(block, resamples - done)
        figures = scored.figures(*draw(rng, k))
        for name in names:
            out[name].append(figures[name])
        done += k
    return {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in out.items()}


def realized(
    p_good: npt.ArrayLike,
    good: npt.ArrayLike,
    approved: npt.ArrayLike | None = None,
    threshold: float | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Figure]:
    """Each figure of METRICS with its Poisson-bootstrap percentile interval ({"value", "low", "high"})."""
    scored = Scored(p_good, approved, threshold)
    y = _outcomes(good, scored.n)[scored.order]
    values = scored.figures((1 - y)[None, :], y[None, :])

    def draw(rng: np.random.Generator, k: int) -> tuple[FloatArray, FloatArray]:
        w = rng.poisson(1.0, size=(k, scored.n)).astype(float)
        return w * (1 - y), w * y

    draws = resample_figures(scored, draw, resamples, seed)
    return {name: interval_summary(float(values[name][0]), draws[name], confidence) for name in METRICS}


def confusion(
    p_good: npt.ArrayLike, good: npt.ArrayLike, approved: npt.ArrayLike | None = None, threshold: float | None = None
) -> dict[str, int]:
    """Counts of the decisions (positive = good, predicted positive = approved): tp, fp, tn, fn."""
    figures = point(p_good, good, approved, threshold)
    return {name: round(figures[name]) for name in ("tp", "fp", "tn", "fn")}


def calibration_table(p_good: npt.ArrayLike, good: npt.ArrayLike) -> list[dict[str, Any]]:
    """Rows, expected (mean P(bad)) and observed bad rate in each P(bad) band of width 0.1."""
    p_bad = 1 - np.asarray(p_good, dtype=float)
    bad = 1 - _outcomes(good, len(p_bad))
    index = band_index(p_bad)
    rows = np.bincount(index, minlength=BANDS)
    expected = np.bincount(index, weights=p_bad, minlength=BANDS)
    observed = np.bincount(index, weights=bad, minlength=BANDS)
    return [
        {
            "band": label,
            "rows": int(rows[i]),
            "expected_bad_rate": _round(expected[i] / rows[i]) if rows[i] else None,
            "observed_bad_rate": _round(observed[i] / rows[i]) if rows[i] else None,
        }
        for i, label in enumerate(band_labels())
    ]


def _round(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None
