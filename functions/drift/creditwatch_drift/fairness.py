"""Decision fairness by protected group: approval rates, disparate impact ratio and statistical parity difference.

No labels needed: only who was approved. Per group, the approval rate and count, from the group's
rows and approvals (counted by an engine's SQL over the whole window, or from a frame); the
demographic parity ratio (lowest group rate / highest) and difference (highest - lowest) give the
point figures, over the groups of at least the minimum size (smaller ones are shown, not judged):
the figures of fairlearn's MetricFrame, selection_rate and demographic_parity_* (tested equal).
The 95% interval, for the pair of groups the
point figures compare (it may pass 1: the gap could be reversed), comes from seeded draws of each
group's approval rate from its Jeffreys posterior Beta(k + 1/2, n - k + 1/2), a smoothed
parametric bootstrap: resampling rows would redraw approvals as Binomial(n, k/n), which collapses to
a zero-width interval when a group has no approvals and would page on noise when every rate is small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditwatch_analytics.groups import (
    ATTRIBUTES,
    CONFIDENCE,
    group_specs,
)
from creditwatch_analytics.lake.sql import CountSpec, GroupCount, WindowCounts, counts_from_frame
from creditwatch_drift.models import AttributeFairness, Fairness, GroupRate, Parity

PROBABILITY = "probability_good_credit"
DECISION = "decision"
INTERVAL_METHOD = "seeded draws of each group's approval rate from its Jeffreys posterior Beta(k+1/2, n-k+1/2)"


def parity(
    approved: np.ndarray,
    probability: np.ndarray,
    groups: pd.Series,
    min_group_size: int,
    resamples: int,
    seed: int,
) -> Parity:
    """Approval rates by group and the parity figures between the groups large enough to judge (from rows)."""
    known = groups.notna().to_numpy()
    y, p, g = approved[known], probability[known], groups[known].astype(str).to_numpy()
    counts = {
        str(name): GroupCount(int(mask.sum()), int(y[mask].sum()), float(p[mask].sum()))
        for name in np.unique(g)
        for mask in [g == name]
    }
    return counted_parity(counts, min_group_size, resamples, seed)


def counted_parity(counts: dict[str, GroupCount], min_group_size: int, resamples: int, seed: int) -> Parity:
    """Approval rates by group and the parity figures, from each group's rows, approvals and P(good) sum."""
    rows = sum(c.rows for c in counts.values())
    if rows == 0:
        return Parity(rows=0, groups=[], judged=False, note="no rows with this attribute: not judged")
    rates = [
        GroupRate(
            group=name,
            count=c.rows,
            approval_rate=round(c.approved / c.rows, 6),
            mean_probability=round(c.probability_sum / c.rows, 6),
            judged=c.rows >= min_group_size,
        )
        for name, c in sorted(counts.items())
        if c.rows
    ]
    judged = [r for r in rates if r.judged]
    if len(judged) < 2:
        return Parity(
            rows=rows,
            groups=rates,
            judged=False,
            note=f"fewer than two groups of at least {min_group_size} rows: not judged",
        )
    exact = [counts[r.group].approved / counts[r.group].rows for r in judged]
    highest = max(judged, key=lambda r: r.approval_rate)
    lowest = min(judged, key=lambda r: r.approval_rate)
    difference = max(exact) - min(exact)
    ratio = min(exact) / max(exact) if highest.approval_rate > 0 else None
    ratio_ci, diff_ci = _bootstrap(lowest, highest, resamples, seed)
    return Parity(
        rows=rows,
        groups=rates,
        judged=ratio is not None,
        note=None if ratio is not None else "no group was approved: the ratio is undefined",
        disparate_impact_ratio=round(ratio, 6) if ratio is not None else None,
        ratio_interval=ratio_ci if ratio is not None else None,
        statistical_parity_difference=round(difference, 6),
        difference_interval=diff_ci,
        lowest_group=lowest.group,
        highest_group=highest.group,
    )


def _rate_draws(groups: Sequence[GroupRate], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of each group's approval rate from its Jeffreys posterior, one column per group (never 0)."""
    n = np.array([r.count for r in groups], dtype=float)
    approved = np.round(np.array([r.approval_rate for r in groups]) * n)
    return rng.beta(approved + 0.5, n - approved + 0.5, size=(resamples, len(groups)))


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return round(float(low), 6), round(float(high), 6)


def _bootstrap(
    lowest: GroupRate, highest: GroupRate, resamples: int, seed: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% intervals of the lowest group's rate over (and under) the highest's, each rate drawn from its posterior."""
    # The pair is the one the point figures compare, held fixed: re-picking min and max in every draw
    # would bias the ratio down, and near parity leave the point figure above its own interval.
    draws = _rate_draws([lowest, highest], resamples, np.random.default_rng(seed))
    low, high = draws[:, 0], draws[:, 1]
    return _interval(low / high), _interval(high - low)


def _change(window: Parity, reference: Parity, resamples: int, seed: int) -> tuple[float, float] | None:
    """95% interval of the window's ratio over the reference's, for the pair of groups the window compares."""
    if window.lowest_group is None or window.highest_group is None:
        return None
    cur = {g.group: g for g in window.groups}
    ref = {g.group: g for g in reference.groups if g.judged}
    if window.lowest_group not in ref or window.highest_group not in ref:
        return None
    rng = np.random.default_rng(seed)
    w = _rate_draws([cur[window.lowest_group], cur[window.highest_group]], resamples, rng)
    r = _rate_draws([ref[window.lowest_group], ref[window.highest_group]], resamples, rng)
    return _interval((w[:, 0] / w[:, 1]) / (r[:, 0] / r[:, 1]))


def population_parity(
    population: pd.DataFrame | WindowCounts, age_cuts: Sequence[int], min_group_size: int, resamples: int, seed: int
) -> dict[str, Parity]:
    """Each protected attribute's parity in one population (the window's counts, or a frame: the reference)."""
    counts = (
        population
        if isinstance(population, WindowCounts)
        else counts_from_frame(population, CountSpec(groups=group_specs(age_cuts)))
    )
    return {name: counted_parity(counts.groups.get(name, {}), min_group_size, resamples, seed) for name in ATTRIBUTES}


def fairness(
    current: pd.DataFrame | WindowCounts,
    reference: pd.DataFrame | WindowCounts,
    *,
    threshold: float,
    age_cuts: Sequence[int],
    min_group_size: int,
    resamples: int,
    seed: int = 0,
) -> Fairness:
    """The window's decision fairness beside the reference's, with a verdict per attribute."""
    window = population_parity(current, age_cuts, min_group_size, resamples, seed)
    ref = population_parity(reference, age_cuts, min_group_size, resamples, seed)
    attributes = []
    for name in ATTRIBUTES:
        cur, base = window[name], ref[name]
        adverse = _adverse(cur, threshold)
        change = _change(cur, base, resamples, seed)
        worse = change is not None and change[1] < 1
        # A gap the training reference already had (its ratio below the threshold) is the model's own
        # finding: reported every run, paged only when the window is clearly worse than the reference,
        # both samples' noise counted. Otherwise adverse impact pages on its own.
        known = base.disparate_impact_ratio is not None and base.disparate_impact_ratio < threshold
        attributes.append(
            AttributeFairness(
                attribute=name,
                current=cur,
                reference=base,
                below_threshold=adverse,
                change_interval=change,
                worse_than_reference=worse,
                alert=adverse and (worse or not known),
            )
        )
    return Fairness(
        threshold=threshold,
        min_group_size=min_group_size,
        age_cuts=list(age_cuts),
        confidence=CONFIDENCE,
        interval_method=f"{INTERVAL_METHOD}, {resamples} resamples",
        attributes=attributes,
    )


def _adverse(p: Parity, threshold: float) -> bool:
    """The ratio and its interval's upper bound below the threshold: adverse impact beyond noise."""
    return bool(
        p.disparate_impact_ratio is not None
        and p.ratio_interval is not None
        and p.disparate_impact_ratio < threshold
        and p.ratio_interval[1] < threshold
    )
