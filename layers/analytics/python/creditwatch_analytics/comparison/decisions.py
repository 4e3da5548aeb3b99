"""The shadow rows compared: score PSI, the swap set, approval rates with a paired interval, reasons, fairness.

Every figure is paired: both models scored the same applications. The approval-rate change and the
disparate-impact ratios are functions of the counts of the four swap cells (per protected group for
fairness), so their bootstrap resamples the cells, not the rows: a multinomial draw of the cells'
counts is exactly a resample of the rows with replacement (stratified by group for fairness), and costs
the same for a thousand rows or a million.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditwatch_analytics.comparison.models import DayPoint, Estimate, GroupFairness, Side, SwapSet
from creditwatch_analytics.groups import ATTRIBUTES, CONFIDENCE, protected_groups

CHAMPION_P, CHALLENGER_P = "probability_good_credit", "challenger_probability_good_credit"
PSI_BINS = 10
# A bin's share is floored here before the log: a bin one model never fills would be infinite.
PSI_FLOOR = 1e-4
# The four cells in SwapSet's order: (champion approves, challenger approves).
CELLS = ((True, True), (True, False), (False, True), (False, False))


def shadow_rows(frame: pd.DataFrame, challenger_version: str | None = None) -> tuple[pd.DataFrame, str | None, int]:
    """The rows the challenger scored (its most frequent version unless one is named), its version, and its misses.

    A miss is a record marked with the challenger's version that it did not score (creditwatch_predict.shadow).
    """
    marked = frame[frame["challenger_version"].notna()] if "challenger_version" in frame else frame.iloc[:0]
    if marked.empty:
        return marked, challenger_version, 0
    version = challenger_version or str(marked["challenger_version"].value_counts().idxmax())
    mine = marked[marked["challenger_version"] == version]
    scored = mine[mine[CHALLENGER_P].notna() & mine[CHAMPION_P].notna()]
    return scored, version, len(mine) - len(scored)


def score_psi(champion: np.ndarray, challenger: np.ndarray, bins: int = PSI_BINS) -> float | None:
    """PSI of the challenger's P(good) against the champion's, on the champion's deciles (0 for equal scores)."""
    if len(champion) == 0:
        return None
    inner = np.unique(np.quantile(champion, np.linspace(0, 1, bins + 1)[1:-1]))
    a = np.bincount(np.searchsorted(inner, champion, side="right"), minlength=len(inner) + 1) / len(champion)
    b = np.bincount(np.searchsorted(inner, challenger, side="right"), minlength=len(inner) + 1) / len(challenger)
    a, b = np.maximum(a, PSI_FLOOR), np.maximum(b, PSI_FLOOR)
    return round(float(np.sum((b - a) * np.log(b / a))), 6)


def swap_set(champion: np.ndarray, challenger: np.ndarray) -> SwapSet:
    """Applications per pair of decisions: approved by both, champion only, challenger only, neither."""
    counts = _cells(champion, challenger)
    return SwapSet(both=counts[0], champion_only=counts[1], challenger_only=counts[2], neither=counts[3])


def _cells(champion: np.ndarray, challenger: np.ndarray) -> list[int]:
    index = (~champion.astype(bool)).astype(np.intp) * 2 + (~challenger.astype(bool)).astype(np.intp)
    return [int(x) for x in np.bincount(index, minlength=4)]


def interval(draws: np.ndarray, value: float | None) -> Estimate:
    """The value with the 95% percentile interval of its finite draws."""
    finite = draws[np.isfinite(draws)]
    if value is None or not np.isfinite(value) or not len(finite):
        return Estimate(value=None if value is None or not np.isfinite(value) else round(float(value), 6))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(value=round(float(value), 6), low=round(float(low), 6), high=round(float(high), 6))


def approval_change(swaps: SwapSet, resamples: int, seed: int) -> Estimate:
    """Challenger's approval rate minus the champion's, with its paired bootstrap interval (the cells resampled)."""
    n = swaps.total
    if n == 0:
        return Estimate()
    cells = np.array([swaps.both, swaps.champion_only, swaps.challenger_only, swaps.neither], dtype=float) / n
    draws = np.random.default_rng(seed).multinomial(n, cells, size=resamples)
    return interval((draws[:, 2] - draws[:, 1]) / n, (swaps.challenger_only - swaps.champion_only) / n)


def reason_mix(reasons: pd.Series, refused: np.ndarray) -> tuple[dict[str, float], int]:
    """Share of each first reason among the refusals that carry one, largest first; and how many carry one."""
    given = [r for r, no in zip(reasons.tolist(), refused.tolist(), strict=True) if no and isinstance(r, str) and r]
    counts = Counter(given)
    total = sum(counts.values())
    return {k: round(v / total, 6) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}, total


def side(version: str, p: np.ndarray, approved: np.ndarray, reasons: pd.Series | None) -> Side:
    """One model's approval rate, mean P(good) and first-reason mix on the shadow rows."""
    mix, with_reason = reason_mix(reasons, ~approved) if reasons is not None else ({}, 0)
    return Side(
        version=version,
        approval_rate=round(float(approved.mean()), 6) if len(approved) else None,
        mean_probability=round(float(p.mean()), 6) if len(p) else None,
        first_reasons=mix,
        refusals_with_reason=with_reason,
    )


def fairness(
    features: pd.DataFrame,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    age_cuts: Sequence[int],
    min_group_size: int,
    resamples: int,
    seed: int,
) -> list[GroupFairness]:
    """Disparate impact per protected attribute under each model, with paired (group-stratified) intervals."""
    groups = protected_groups(features, age_cuts)
    rng = np.random.default_rng(seed)
    return [
        _attribute(name, groups[name].to_numpy(dtype=object), champion, challenger, min_group_size, resamples, rng)
        for name in ATTRIBUTES
    ]


def _attribute(
    name: str,
    groups: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    min_group_size: int,
    resamples: int,
    rng: np.random.Generator,
) -> GroupFairness:
    known = sorted({g for g in groups.tolist() if g is not None})
    cells = {g: _cells(champion[groups == g], challenger[groups == g]) for g in known}
    sizes = {g: sum(c) for g, c in cells.items()}
    judged = [g for g in known if sizes[g] >= min_group_size]
    if len(judged) < 2:
        note = f"fewer than two groups of at least {min_group_size} shadow rows: not judged"
        return GroupFairness(attribute=name, judged=False, note=note, groups=sizes)
    counts = np.array([cells[g] for g in judged], dtype=float)  # groups x cells
    n = counts.sum(axis=1)
    # Each group's rows resampled on their own (a multinomial of its cells): groups x resamples x cells.
    draws = np.stack([rng.multinomial(int(k), row / k, size=resamples) for row, k in zip(counts, n, strict=True)])
    rates_c = (draws[:, :, 0] + draws[:, :, 1]) / n[:, None]
    rates_h = (draws[:, :, 0] + draws[:, :, 2]) / n[:, None]
    point_c = (counts[:, 0] + counts[:, 1]) / n
    point_h = (counts[:, 0] + counts[:, 2]) / n
    # Each model's pair (lowest and highest judged group) is fixed by its point rates, as the drift job's.
    pair_c = (int(np.argmin(point_c)), int(np.argmax(point_c)))
    pair_h = (int(np.argmin(point_h)), int(np.argmax(point_h)))
    with np.errstate(divide="ignore", invalid="ignore"):
        di_c = rates_c[pair_c[0]] / rates_c[pair_c[1]]
        di_h = rates_h[pair_h[0]] / rates_h[pair_h[1]]
        value_c = point_c[pair_c[0]] / point_c[pair_c[1]] if point_c[pair_c[1]] > 0 else None
        value_h = point_h[pair_h[0]] / point_h[pair_h[1]] if point_h[pair_h[1]] > 0 else None
    difference = None if value_c is None or value_h is None else value_h - value_c
    return GroupFairness(
        attribute=name,
        judged=value_c is not None and value_h is not None,
        note=None if value_c is not None and value_h is not None else "a model approved no group: no ratio",
        groups=sizes,
        champion=interval(di_c, value_c),
        challenger=interval(di_h, value_h),
        difference=interval(di_h - di_c, difference),
        champion_pair=(judged[pair_c[0]], judged[pair_c[1]]),
        challenger_pair=(judged[pair_h[0]], judged[pair_h[1]]),
    )


def days(ts: pd.Series | None, p_c: np.ndarray, p_h: np.ndarray, a_c: np.ndarray, a_h: np.ndarray) -> list[DayPoint]:
    """Each UTC day of shadow traffic: both models' approval rates and mean P(good), oldest first."""
    if ts is None or ts.isna().all():
        return []
    day = pd.to_datetime(ts, utc=True, format="ISO8601").dt.strftime("%Y-%m-%d").to_numpy()
    frame = pd.DataFrame({"day": day, "pc": p_c, "ph": p_h, "ac": a_c.astype(float), "ah": a_h.astype(float)})
    out = frame.groupby("day", sort=True).agg(
        rows=("pc", "size"), ac=("ac", "mean"), ah=("ah", "mean"), pc=("pc", "mean"), ph=("ph", "mean")
    )
    return [
        DayPoint(
            day=str(d),
            rows=int(r.rows),
            approval_rate_champion=round(float(r.ac), 6),
            approval_rate_challenger=round(float(r.ah), 6),
            mean_probability_champion=round(float(r.pc), 6),
            mean_probability_challenger=round(float(r.ph), 6),
        )
        for d, r in out.iterrows()
    ]
