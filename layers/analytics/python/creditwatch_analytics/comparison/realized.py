"""Both models on matured outcomes of the applications they both scored: figures and paired bootstrap differences.

The figures are creditwatch_model.quality's (AUC, expected cost under the UCI 5:1 matrix, bad rate among
approved), each model with its own decisions. Pairing: each resample weighs every row by one Poisson(1)
count (the Poisson bootstrap the quality job uses) and both models are figured on the same weights, so
the interval of a difference holds what the two models share (the same applicants, the same outcomes).
"""

from __future__ import annotations

import numpy as np

from creditwatch_analytics.comparison.decisions import interval
from creditwatch_analytics.comparison.models import RealizedComparison
from creditwatch_model.quality import Scored

FIGURES = ("auc", "expected_cost", "bad_rate_approved", "approval_rate")


def realized(
    good: np.ndarray,
    p_champion: np.ndarray,
    approved_champion: np.ndarray,
    p_challenger: np.ndarray,
    approved_challenger: np.ndarray,
    *,
    resamples: int,
    seed: int,
) -> RealizedComparison:
    """Each model's figures with intervals, and the challenger's minus the champion's with paired intervals."""
    y = np.asarray(good, dtype=float)
    n = len(y)
    if n == 0:
        return RealizedComparison()
    models = (Scored(p_champion, approved_champion), Scored(p_challenger, approved_challenger))
    points = [m.figures((1 - y[m.order])[None, :], y[m.order][None, :]) for m in models]
    draws: list[dict[str, list[np.ndarray]]] = [{f: [] for f in FIGURES} for _ in models]
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, models[0].block_size(resamples)))
    done = 0
    while done < resamples:
        k = min(block, resamples - done)
        weights = rng.poisson(1.0, size=(k, n)).astype(float)
        good_w, bad_w = weights * y, weights * (1 - y)
        for m, out in zip(models, draws, strict=True):
            figures = m.figures(bad_w[:, m.order], good_w[:, m.order])
            for f in FIGURES:
                out[f].append(figures[f])
        done += k
    stacked = [{f: np.concatenate(d[f]) for f in FIGURES} for d in draws]
    result = RealizedComparison(rows=n, bad_rows=int((y == 0).sum()))
    for f in FIGURES:
        value_c, value_h = float(points[0][f][0]), float(points[1][f][0])
        result.champion[f] = interval(stacked[0][f], value_c)
        result.challenger[f] = interval(stacked[1][f], value_h)
        result.difference[f] = interval(stacked[1][f] - stacked[0][f], value_h - value_c)
    return result
