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
answer: just past each split threshold of that column. Every candidate of a size is generated, sorted by
distance and scored by the forest in batches in that order, so the first approval found is the smallest.

Bounded and deterministic: at most ``max_candidates`` candidates are scored (default 10,000: the forest
scores a candidate in ~2.6 us, so ~30 ms with the search's own work); ``time_budget_ms`` (default 50 ms)
is a safety stop for a slow or busy host and says so in the result (``stopped_by``): the only way two runs
on the same row may differ. Either stop gives "none found within bounds".
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

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
_BATCH = 512


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


def _number_values(model: CreditModel, lever: NumberLever, current: float, min_amount: float) -> list[float]:
    """Values just past each split threshold of the lever's column, within bounds and direction."""
    col = model.schema.names.index(lever.feature)
    column_feature = model.column_feature
    columns = np.flatnonzero(column_feature == col)
    forest = model.forest
    internal = forest.left != np.arange(forest.left.shape[0])
    thresholds = np.unique(forest.threshold[internal & np.isin(forest.feature, columns)])
    low = max(lever.low, min_amount) if lever.feature == "credit_amount" else lever.low
    out: set[float] = set()
    for t in thresholds.tolist():
        # Whole units (months, DM): at most t goes left, t's floor + 1 goes right.
        below, above = float(math.floor(t)), float(math.floor(t) + 1)
        if lever.direction in ("down", "both") and below < current and low <= below <= lever.high:
            out.add(below)
        if lever.direction in ("up", "both") and above > current and low <= above <= lever.high:
            out.add(above)
    return sorted(out, key=lambda v: (abs(v - current), v))


def _moves(
    model: CreditModel, row: dict[str, Any], levers: tuple[Lever, ...], min_amount_fraction: float
) -> list[_Moves]:
    """Each lever's candidate values for this row (levers with none are dropped)."""
    base = model.encode([row])[0]
    out: list[_Moves] = []
    for lever in levers:
        if lever.feature in PROTECTED:
            raise ValueError(f"{lever.feature} is protected and cannot be a lever")
        current = row[lever.feature]
        values: list[Any]
        if isinstance(lever, NumberLever):
            values = _number_values(model, lever, float(current), min_amount_fraction * float(current))
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
        out.append(_Moves(lever, values, np.asarray(distance, dtype=np.float64), encoded - base))
    return out


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
    deadline = time.perf_counter() + time_budget_ms / 1000.0
    threshold = model.threshold
    p0 = float(model.predict_good([row])[0])
    if p0 >= threshold:
        return Counterfactual("already_approved", "the application is already approved", p0, threshold)
    base = model.encode([row])[0]
    moves = _moves(model, row, levers, min_amount_fraction)
    scored = 0
    stopped_by: Literal["", "time_budget", "candidate_budget"] = ""
    for k in range(1, min(max_changes, len(moves)) + 1):
        combos = list(itertools.combinations(range(len(moves)), k))
        # All candidates of size k: (combination, value index per lever), with their distances.
        combo_id: list[npt.NDArray[np.intp]] = []
        picks: list[npt.NDArray[np.intp]] = []
        distances: list[npt.NDArray[np.float64]] = []
        for c, combo in enumerate(combos):
            grids = np.meshgrid(*[np.arange(len(moves[i].values)) for i in combo], indexing="ij")
            idx = np.stack([g.ravel() for g in grids], axis=1)
            dist = sum(moves[i].distance[idx[:, j]] for j, i in enumerate(combo))
            combo_id.append(np.full(idx.shape[0], c, dtype=np.intp))
            picks.append(idx)
            distances.append(np.asarray(dist, dtype=np.float64))
        all_combo = np.concatenate(combo_id)
        all_picks = np.concatenate(picks)
        all_dist = np.concatenate(distances)
        # Distance first; then lever order, then smaller moves (the picks are sorted by nearness).
        order = np.lexsort((*all_picks.T[::-1], all_combo, all_dist))
        for start in range(0, order.shape[0], _BATCH):
            if scored >= max_candidates:
                stopped_by = "candidate_budget"
                break
            if time.perf_counter() > deadline:
                stopped_by = "time_budget"
                break
            batch = order[start : start + min(_BATCH, max_candidates - scored)]
            x = np.repeat(base[None, :], batch.shape[0], axis=0)
            for c in np.unique(all_combo[batch]).tolist():
                rows_c = batch[all_combo[batch] == c]
                at = np.flatnonzero(all_combo[batch] == c)
                for j, i in enumerate(combos[c]):
                    x[at] += moves[i].delta[all_picks[rows_c, j]]
            p = model.forest.predict_good(x)
            scored += batch.shape[0]
            hits = np.flatnonzero(p >= threshold)
            if hits.shape[0]:
                best = int(batch[hits[0]])
                return _found(model, row, moves, combos[int(all_combo[best])], all_picks[best], p[hits[0]], p0, scored)
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
