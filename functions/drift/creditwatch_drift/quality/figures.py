"""Realized quality figures of a labelled cohort, each with a Poisson-bootstrap 95% interval, in numpy.

Positive class: good credit (target 1), scored by P(good); approved = predicted positive. Every figure
of one resample comes from the same resample, so the intervals are of one consistent bootstrap.
The bootstrap is vectorised: instead of resampling rows (a sort per resample for AUC), each resample
weighs every row by a Poisson(1) count (the Poisson bootstrap: the large-n limit of the multinomial
counts of resampling n rows with replacement); the rows are sorted by P(good) once, so AUC and KS of a
resample are cumulative sums of its weights over the distinct scores, and the other figures are
weighted means: one matrix product per figure over a block of resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creditwatch_drift.quality.models import CalibrationBand, Confusion, Figure

REALIZED = ("auc", "gini", "ks", "brier", "log_loss", "ece", "approval_rate", "bad_rate_approved", "expected_cost")
CONFIDENCE = 0.95
BANDS = 10
# UCI German Credit cost matrix: approving a bad applicant costs 5, refusing a good one 1.
COST_FALSE_APPROVE = 5.0
COST_FALSE_REFUSE = 1.0
# Resamples per block: a block's weights are block x rows floats (16 x 100,000 = 13 MB).
_BLOCK = 16


@dataclass(frozen=True)
class Labelled:
    """A cohort's labelled rows as arrays: outcome (1 good, 0 bad), P(good), and whether it was approved."""

    y: np.ndarray
    p: np.ndarray
    approved: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.y) == len(self.p) == len(self.approved)):
            raise ValueError("y, p and approved must have the same length")


def band_labels(bands: int = BANDS) -> list[str]:
    """Readable P(bad) bands: '0.0-0.1', ..."""
    return [f"{i / bands:.1f}-{(i + 1) / bands:.1f}" for i in range(bands)]


def _band_index(p_bad: np.ndarray, bands: int = BANDS) -> np.ndarray:
    return np.minimum((p_bad * bands).astype(int), bands - 1)


class _Prepared:
    """What every resample shares: rows sorted by score, distinct-score groups, per-row terms."""

    def __init__(self, data: Labelled) -> None:
        # Rows sorted by score once: a resample's weights are independent of the order, so every
        # resample is drawn in this order and needs no gather.
        order = np.argsort(data.p, kind="stable")
        y = data.y[order].astype(float)
        p = data.p[order].astype(float)
        self.starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        self.y, self.p = y, p
        eps = np.finfo(float).eps
        pc = np.clip(p, eps, 1 - eps)
        self.sq = (p - y) ** 2
        self.ll = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
        approved = data.approved[order].astype(bool)
        self.approved = approved.astype(float)
        self.false_approve = (approved & (y == 0)).astype(float)
        self.false_refuse = (~approved & (y == 1)).astype(float)
        self.bands = np.zeros((len(y), BANDS))
        self.bands[np.arange(len(y)), _band_index(1 - p)] = 1.0
        self.bands *= ((1 - p) - (1 - y))[:, None]

    def figures(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Every figure for each row of weights w (resamples x rows)."""
        total = w.sum(1)
        pos = np.add.reduceat(w * self.y, self.starts, axis=1)
        neg = np.add.reduceat(w, self.starts, axis=1) - pos
        n_pos, n_neg = pos.sum(1), neg.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            below = np.cumsum(neg, 1) - neg
            auc = (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)
            ks = np.abs(np.cumsum(pos, 1) / n_pos[:, None] - np.cumsum(neg, 1) / n_neg[:, None]).max(1)
            approved = w @ self.approved
            false_approve = w @ self.false_approve
            return {
                "auc": auc,
                "gini": 2 * auc - 1,
                "ks": ks,
                "brier": w @ self.sq / total,
                "log_loss": w @ self.ll / total,
                "ece": np.abs(w @ self.bands).sum(1) / total,
                "approval_rate": approved / total,
                "bad_rate_approved": false_approve / approved,
                "expected_cost": (COST_FALSE_APPROVE * false_approve + COST_FALSE_REFUSE * (w @ self.false_refuse))
                / total,
            }


def realized(data: Labelled, resamples: int = 1000, seed: int = 0) -> dict[str, Figure]:
    """Each realized figure with its 95% Poisson-bootstrap interval (None where undefined, e.g. one class only)."""
    prepared = _Prepared(data)
    n = len(data.y)
    point = prepared.figures(np.ones((1, n)))
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in REALIZED}
    done = 0
    while done < resamples:
        k = min(_BLOCK, resamples - done)
        block = prepared.figures(rng.poisson(1.0, size=(k, n)).astype(float))
        for name in REALIZED:
            draws[name].append(block[name])
        done += k
    tail = (1 - CONFIDENCE) / 2 * 100
    out = {}
    for name in REALIZED:
        value = float(point[name][0])
        values = np.concatenate(draws[name])
        values = values[np.isfinite(values)]
        if not np.isfinite(value):
            out[name] = Figure(value=None)
            continue
        low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan)
        out[name] = Figure(value=_r(value), low=_r(low), high=_r(high))
    return out


def calibration_table(data: Labelled) -> list[CalibrationBand]:
    """Expected (mean P(bad)) and observed bad rate of the labelled rows in each P(bad) band of width 0.1."""
    p_bad, bad = 1 - data.p.astype(float), 1 - data.y.astype(float)
    index = _band_index(p_bad)
    rows = np.bincount(index, minlength=BANDS)
    expected = np.bincount(index, weights=p_bad, minlength=BANDS)
    observed = np.bincount(index, weights=bad, minlength=BANDS)
    return [
        CalibrationBand(
            band=label,
            rows=int(rows[i]),
            expected_bad_rate=_r(expected[i] / rows[i]) if rows[i] else None,
            observed_bad_rate=_r(observed[i] / rows[i]) if rows[i] else None,
        )
        for i, label in enumerate(band_labels())
    ]


def confusion(data: Labelled, threshold: float) -> Confusion:
    """The confusion matrix of the decisions taken (positive = good, predicted positive = approved)."""
    good, approved = data.y == 1, data.approved.astype(bool)
    return Confusion(
        threshold=threshold,
        tp=int((approved & good).sum()),
        fp=int((approved & ~good).sum()),
        tn=int((~approved & ~good).sum()),
        fn=int((~approved & good).sum()),
    )


def _r(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None
