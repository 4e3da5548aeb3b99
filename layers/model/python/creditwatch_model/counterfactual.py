"""Counterfactuals for refused applications: the smallest actionable change that the model approves.

What may change (the levers), and why:

- ``credit_amount``: down only, to no less than half of what was asked (``min_amount_fraction``);
  a smaller loan is the lender's first offer.
- ``duration_in_month``: either way within 4-72 months (the data's range); the term is negotiable.
- ``installment_rate_in_percentage_of_disposable_income`` and ``number_of_existing_credits_at_this_bank``:
  down only (a smaller installment, consolidated credits).
- ``status_of_existing_checking_account``: up the ladder A11 (< 0 DM) -> A12 (0-200 DM) -> A13 (>= 200 DM);
  never to A14 ("no checking account": closing an account is not advice).
- ``savings_account_and_bonds``: up the ladder A61 -> A62 -> A63 -> A64 (from A65 "unknown/none", any rung).
- ``other_debtors_or_guarantors``: to a co-applicant (A102), then a guarantor (A103).
- ``other_installment_plans``: to A143 (none: pay off the other plans).

Never changed: ``personal_status_and_sex``, ``age_in_years`` and ``foreign_worker`` (protected), and what an
applicant cannot change now or a lender should not ask to (credit history, employment, job, purpose, property,
housing, telephone, dependants).

"Smallest": fewest features changed, then the smallest normalised distance, the sum over changed features of
|new - old| / span for numbers (spans: the training data's range, e.g. 18,174 DM for the amount, 68 months
for the duration, 3 for the installment rate) and rungs climbed / rungs of the ladder for codes; ties go to
the lever order above and then to smaller moves. Numbers are only tried where the forest can change its
answer: just past each split threshold of that column.

The search is exact, not a heuristic. Each leaf of the forest is a box of the encoded space, and a row's
P(good) is the sum of leaf value / trees over the one leaf per tree that it lands in. For an applicant,
only the leaves its unchangeable features allow can be reached (~700 of 2,851); per lever, values that
land in the same reachable leaves give the same P(good) whatever else changes, so only the nearest of
them is kept (it comes first in the order). Per combination of levers, two bounds (each tree's best leaf
that some candidate, then some candidate with a given value, can still land in) drop combinations and
values that cannot reach the threshold; the rest get their P(good) from one matrix product of leaf
weights and the levers' landings. Those at the threshold or above (less 1e-9: another summation order)
are sorted by distance, lever order and smaller moves, and the forest scores them in that order: its
first approval is the smallest, the same one as scoring every candidate with the forest would give
(tests/unit/test_counterfactual.py checks both against that).

Bounded and deterministic: at most ``max_candidates`` candidates (default 10,000) get a P(good) from the
leaf sums (over the data's first 120 refusals: 3 at the median, ~3,000 at most; ~2-5 ms of CPU a search,
bench/counterfactual_bench.py); ``time_budget_ms`` (default 50 ms) is a safety stop for a slow or busy
host and says so in the result (``stopped_by``): the only way two runs on the same row may differ. Either
stop gives "none found within bounds". A model's leaf boxes are built on its first search (~10 ms, 2 MB),
before that search's clock starts.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from creditwatch_model.leaf_boxes import LeafBoxes, leaf_boxes

if TYPE_CHECKING:
    from creditwatch_model import CreditModel

__all__ = [
    "DEFAULT_LEVERS",
    "PROTECTED",
    "Change",
    "CodeLever",
    "Counterfactual",
    "NumberLever",
    "counterfactual",
]

PROTECTED = frozenset({"personal_status_and_sex", "age_in_years", "foreign_worker"})
DEFAULT_TIME_BUDGET_MS = 50.0
DEFAULT_MAX_CANDIDATES = 10_000
DEFAULT_MAX_CHANGES = 3
_BATCH = 64
# The leaf sums add the same 100 leaf values as the forest, in another order: a margin far above
# the rounding (~1e-16) keeps every candidate the forest would approve.
_EPS = 1e-9


@dataclass(frozen=True)
class NumberLever:
    """A numerical feature that may move in `direction` within [low, high]; distance is |delta| / span."""

    feature: str
    direction: Literal["down", "up", "both"]
    low: float
    high: float
    span: float
    integer: bool = True


@dataclass(frozen=True)
class CodeLever:
    """A coded feature that may climb `ladder` (codes, worst to best); distance is rungs / len(ladder)."""

    feature: str
    ladder: tuple[str, ...]


Lever = NumberLever | CodeLever

DEFAULT_LEVERS: tuple[Lever, ...] = (
    NumberLever("credit_amount", "down", 1.0, 1_000_000.0, span=18_174.0, integer=False),
    NumberLever("duration_in_month", "both", 4, 72, span=68.0),
    NumberLever("installment_rate_in_percentage_of_disposable_income", "down", 1, 4, span=3.0),
    NumberLever("number_of_existing_credits_at_this_bank", "down", 1, 4, span=3.0),
    CodeLever("status_of_existing_checking_account", ("A11", "A12", "A13")),
    CodeLever("savings_account_and_bonds", ("A61", "A62", "A63", "A64")),
    CodeLever("other_debtors_or_guarantors", ("A102", "A103")),
    CodeLever("other_installment_plans", ("A143",)),
)


@dataclass(frozen=True)
class Change:
    """One feature's change: from the applicant's value to the proposed one."""

    feature: str
    label: str
    from_value: Any
    to_value: Any
    meaning: str | None  # the new code's meaning, None for numbers


@dataclass(frozen=True)
class Counterfactual:
    """The search's answer: an approved variant of the application, or why there is none."""

    status: Literal["found", "already_approved", "none_found"]
    message: str
    original_probability: float
    threshold: float
    changes: tuple[Change, ...] = ()
    probability_good_credit: float | None = None
    distance: float = 0.0
    candidates_scored: int = 0
    stopped_by: Literal["", "time_budget", "candidate_budget"] = ""
    row: dict[str, Any] = field(default_factory=dict)  # the approved application, when found


@dataclass(frozen=True)
class _Moves:
    """One lever's possible values for this applicant, their distances and encoded deltas."""

    lever: Lever
    values: list[Any]
    distance: npt.NDArray[np.float64]
    delta: npt.NDArray[np.float64]  # (values, encoded width): added to the encoded row
    columns: npt.NDArray[np.intp]  # the lever's encoded columns


def _number_values(thresholds: list[float], lever: NumberLever, current: float, min_amount: float) -> list[float]:
    """Values just past each split threshold of the lever's column, within bounds and direction."""
    low = max(lever.low, min_amount) if lever.feature == "credit_amount" else lever.low
    out: set[float] = set()
    for t in thresholds:
        # Whole units (months, DM): at most t goes left, t's floor + 1 goes right.
        below, above = float(math.floor(t)), float(math.floor(t) + 1)
        if lever.direction in ("down", "both") and below < current and low <= below <= lever.high:
            out.add(below)
        if lever.direction in ("up", "both") and above > current and low <= above <= lever.high:
            out.add(above)
    return sorted(out, key=lambda v: (abs(v - current), v))


def _moves(
    model: CreditModel, leaves: LeafBoxes, row: dict[str, Any], levers: tuple[Lever, ...], min_amount_fraction: float
) -> list[_Moves]:
    """Each lever's candidate values for this row (levers with none are dropped)."""
    base = model.encode([row])[0]
    out: list[_Moves] = []
    for lever in levers:
        if lever.feature in PROTECTED:
            raise ValueError(f"{lever.feature} is protected and cannot be a lever")
        current = row[lever.feature]
        feature = model.schema.names.index(lever.feature)
        values: list[Any]
        if isinstance(lever, NumberLever):
            thresholds = leaves.thresholds.get(feature, [])
            values = _number_values(thresholds, lever, float(current), min_amount_fraction * float(current))
            if lever.integer:
                values = [int(v) for v in values]
            distance = [abs(float(v) - float(current)) / lever.span for v in values]
        else:
            rank = lever.ladder.index(current) if current in lever.ladder else -1
            values = list(lever.ladder[rank + 1 :])
            distance = [(lever.ladder.index(v) - rank) / len(lever.ladder) for v in values]
        if not values:
            continue
        encoded = model.encode([{**row, lever.feature: v} for v in values])
        columns = np.flatnonzero(leaves.column_feature == feature)
        out.append(_Moves(lever, values, np.asarray(distance, dtype=np.float64), encoded - base, columns))
    return out


@dataclass(frozen=True)
class _Reach:
    """The leaves a row can land in when only its levers move, and where each lever's kept values land."""

    weight: npt.NDArray[np.float64]  # (reachable leaves,)
    tree: npt.NDArray[np.intp]  # each reachable leaf's tree, in order
    trees: int
    stays: npt.NDArray[np.int64]  # per leaf, a bit per lever: the applicant's own value lands in it
    lands: npt.NDArray[np.int64]  # per leaf, a bit per lever: some kept value lands in it
    landing: list[npt.NDArray[np.float64]]  # per lever: (leaves, kept values), 1.0 where the value lands
    kept: list[npt.NDArray[np.intp]]  # per lever: the kept values (indices into _Moves.values)


def _reach(leaves: LeafBoxes, base: npt.NDArray[np.float64], moves: list[_Moves]) -> _Reach:
    """The row's reachable leaves; per lever, the nearest of the values that land in the same leaves."""
    # The forest compares float32 inputs: land rows as it does.
    x = base.astype(np.float32).astype(np.float64)
    inside = (leaves.lower < x) & (x <= leaves.upper)
    fixed = np.ones(x.shape[0], dtype=bool)
    for m in moves:
        fixed[m.columns] = False
    reachable = np.flatnonzero(inside[:, fixed].all(axis=1))
    inside, lower, upper = inside[reachable], leaves.lower[reachable], leaves.upper[reachable]
    stays = np.zeros(reachable.shape[0], dtype=np.int64)
    lands = np.zeros(reachable.shape[0], dtype=np.int64)
    landing, kept = [], []
    for i, m in enumerate(moves):
        lo, hi = lower[:, m.columns, None], upper[:, m.columns, None]
        xv = (base[None, :] + m.delta)[:, m.columns].astype(np.float32).astype(np.float64).T[None]
        land = np.asarray(((lo < xv) & (xv <= hi)).all(axis=1))  # (leaves, values)
        # Values that land in the same leaves give the same P(good) whatever else changes, and values
        # are sorted by nearness: the first of each such class dominates the others.
        first: dict[bytes, int] = {}
        for v, key in enumerate(np.packbits(land, axis=0).T):
            first.setdefault(key.tobytes(), v)
        keep = np.asarray(sorted(first.values()), dtype=np.intp)
        stays |= inside[:, m.columns].all(axis=1).astype(np.int64) << i
        lands |= land[:, keep].any(axis=1).astype(np.int64) << i
        landing.append(land[:, keep].astype(np.float64))
        kept.append(keep)
    tree = leaves.tree[reachable]
    return _Reach(leaves.weight[reachable], tree, int(leaves.tree[-1]) + 1, stays, lands, landing, kept)


def _probabilities(
    reach: _Reach, combo: tuple[int, ...], threshold: float
) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.intp]]] | None:
    """P(good) of a combination's candidates that may pass (an axis per lever) and their values; None if none."""
    bits = sum(1 << i for i in combo)
    every = (1 << len(reach.landing)) - 1
    keep = ((reach.stays | bits) == every) & ((reach.lands & bits) == bits)
    weight = reach.weight[keep]
    start = np.flatnonzero(np.diff(reach.tree[keep], prepend=-1))
    # Bounds: each tree's best leaf that a candidate can still land in (a tree with none: no candidate).
    if start.shape[0] < reach.trees or np.maximum.reduceat(weight, start).sum() < threshold - _EPS:
        return None
    mats, values = [], []
    for i in combo:
        landing = reach.landing[i][keep]
        # The same bound per value of the lever.
        best = np.maximum.reduceat(np.where(landing > 0, weight[:, None], -np.inf), start, axis=0).sum(axis=0)
        ok = np.flatnonzero(best >= threshold - _EPS)
        if not ok.shape[0]:
            return None
        mats.append(landing[:, ok])
        values.append(reach.kept[i][ok])
    sizes = [m.shape[1] for m in mats]
    big = int(np.argmax(sizes))
    # P = sum over leaves of weight x the outer product of the levers' landings, the biggest lever by a matmul.
    outer = weight[:, None]
    axes = []
    for j, mat in enumerate(mats):
        if j != big:
            outer = (outer[:, :, None] * mat[:, None, :]).reshape(weight.shape[0], -1)
            axes.append(j)
    p = (outer.T @ mats[big]).reshape([sizes[j] for j in axes] + [sizes[big]])
    return p.transpose(np.argsort([*axes, big])), values


def counterfactual(
    model: CreditModel,
    row: dict[str, Any],
    *,
    levers: tuple[Lever, ...] = DEFAULT_LEVERS,
    max_changes: int = DEFAULT_MAX_CHANGES,
    min_amount_fraction: float = 0.5,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    time_budget_ms: float = DEFAULT_TIME_BUDGET_MS,
) -> Counterfactual:
    """The smallest change of `levers` (fewest features, then distance) that the model approves."""
    leaves = leaf_boxes(model)  # once per model, before the clock starts
    deadline = time.perf_counter() + time_budget_ms / 1000.0
    threshold = model.threshold
    p0 = float(model.predict_good([row])[0])
    if p0 >= threshold:
        return Counterfactual("already_approved", "the application is already approved", p0, threshold)
    base = model.encode([row])[0]
    moves = _moves(model, leaves, row, levers, min_amount_fraction)
    reach = _reach(leaves, base, moves)
    scored = 0
    stopped_by: Literal["", "time_budget", "candidate_budget"] = ""
    for k in range(1, min(max_changes, len(moves)) + 1):
        combos = list(itertools.combinations(range(len(moves)), k))
        # The candidates of size k that the leaf sums approve: (combination, value index per lever, distance).
        combo_id, picks, distances = [], [], []
        for c, combo in enumerate(combos):
            if time.perf_counter() > deadline:
                stopped_by = "time_budget"
                break
            grid = _probabilities(reach, combo, threshold)
            if grid is None:
                continue
            p, values = grid
            if scored + p.size > max_candidates:
                stopped_by = "candidate_budget"
                break
            scored += p.size
            hits = np.argwhere(p >= threshold - _EPS)
            idx = np.stack([values[j][hits[:, j]] for j in range(k)], axis=1)
            combo_id.append(np.full(idx.shape[0], c, dtype=np.intp))
            picks.append(idx)
            distances.append(np.asarray(sum(moves[i].distance[idx[:, j]] for j, i in enumerate(combo)), np.float64))
        if stopped_by:
            break
        if not sum(a.shape[0] for a in combo_id):
            continue
        all_combo, all_picks, all_dist = np.concatenate(combo_id), np.concatenate(picks), np.concatenate(distances)
        # Distance first; then lever order, then smaller moves (the picks are sorted by nearness).
        order = np.lexsort((*all_picks.T[::-1], all_combo, all_dist))
        # The forest has the last word, in that order: the leaf sums only chose the candidates.
        for start in range(0, order.shape[0], _BATCH):
            if start and time.perf_counter() > deadline:
                stopped_by = "time_budget"
                break
            batch = order[start : start + _BATCH]
            x = np.repeat(base[None, :], batch.shape[0], axis=0)
            for at, b in enumerate(batch.tolist()):
                for j, i in enumerate(combos[int(all_combo[b])]):
                    x[at] += moves[i].delta[all_picks[b, j]]
            p_forest = model.forest.predict_good(x)
            approved = np.flatnonzero(p_forest >= threshold)
            if approved.shape[0]:
                best = int(batch[approved[0]])
                combo = combos[int(all_combo[best])]
                return _found(model, row, moves, combo, all_picks[best], p_forest[approved[0]], p0, scored)
        if stopped_by:
            break
    return Counterfactual(
        "none_found",
        "none found within bounds" + (f" (stopped by the {stopped_by.replace('_', ' ')})" if stopped_by else ""),
        p0,
        threshold,
        candidates_scored=scored,
        stopped_by=stopped_by,
    )


def _found(
    model: CreditModel,
    row: dict[str, Any],
    moves: list[_Moves],
    combo: tuple[int, ...],
    picks: npt.NDArray[np.intp],
    p: float,
    p0: float,
    scored: int,
) -> Counterfactual:
    features = {f.name: f for f in model.schema.features}
    changes = []
    new_row = dict(row)
    distance = 0.0
    for j, i in enumerate(combo):
        m = moves[i]
        value = m.values[int(picks[j])]
        f = features[m.lever.feature]
        new_row[f.name] = value
        distance += float(m.distance[int(picks[j])])
        changes.append(Change(f.name, f.alias, row[f.name], value, f.codes.get(value) if f.is_categorical else None))
    return Counterfactual(
        "found",
        f"approved with {len(changes)} change(s)",
        p0,
        model.threshold,
        changes=tuple(changes),
        probability_good_credit=float(p),
        distance=distance,
        candidates_scored=scored,
        row=new_row,
    )
