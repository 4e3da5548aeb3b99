"""Counterfactual search: refusals that get one within the default bounds, before and after, beside exhaustive.

    .venv/bin/python bench/counterfactual_bench.py [--rows 120] [--quick]

Over the first refused rows of the German Credit data (in the data's order), three searches per row,
interleaved so that they share the host's load:

- exhaustive: every candidate of every size (1-3 changes) scored by the forest in the module's order
  (distance, then lever order, then smaller moves), no candidate or time bound: which rows have a
  counterfactual, and which one is the smallest;
- before: that same order, stopped at the default bounds (10,000 candidates, 50 ms): the search as it
  was until the leaf-sum search (a frozen copy here);
- after: `creditwatch_model.counterfactual.counterfactual` with its defaults.

Prints found / exist for before and after, whether each answer is the exhaustive one, the p50 and p99
wall and CPU time per refusal (CPU time says what the search costs when other processes share the CPUs),
why searches stopped, and the host's load average (2 CPUs shared: run it when `uptime` shows a load
under 2 if you can).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/model/python"), str(ROOT / "src")]

_BATCH = 512


def before_search(
    model: Any, row: dict[str, Any], max_candidates: float, time_budget_ms: float
) -> tuple[Any, str, int]:
    """The search before the leaf sums (frozen copy): changes as (feature, value) pairs or None, stopped_by, scored."""
    from creditwatch_model.counterfactual import DEFAULT_LEVERS, NumberLever

    deadline = time.perf_counter() + time_budget_ms / 1000.0
    threshold = model.threshold
    if float(model.predict_good([row])[0]) >= threshold:
        return (), "", 0
    base = model.encode([row])[0]
    column_feature, forest = model.column_feature, model.forest
    internal = forest.left != np.arange(forest.left.shape[0])
    moves = []
    for lever in DEFAULT_LEVERS:
        current = row[lever.feature]
        if isinstance(lever, NumberLever):
            columns = np.flatnonzero(column_feature == model.schema.names.index(lever.feature))
            thresholds = np.unique(forest.threshold[internal & np.isin(forest.feature, columns)])
            low = max(lever.low, 0.5 * float(current)) if lever.feature == "credit_amount" else lever.low
            out: set[float] = set()
            for t in thresholds.tolist():
                below, above = float(math.floor(t)), float(math.floor(t) + 1)
                if lever.direction in ("down", "both") and below < current and low <= below <= lever.high:
                    out.add(below)
                if lever.direction in ("up", "both") and above > current and low <= above <= lever.high:
                    out.add(above)
            values: list[Any] = sorted(out, key=lambda v: (abs(v - current), v))
            values = [int(v) for v in values] if lever.integer else values
            distance = [abs(float(v) - float(current)) / lever.span for v in values]
        else:
            rank = lever.ladder.index(current) if current in lever.ladder else -1
            values = list(lever.ladder[rank + 1 :])
            distance = [(lever.ladder.index(v) - rank) / len(lever.ladder) for v in values]
        if values:
            delta = model.encode([{**row, lever.feature: v} for v in values]) - base
            moves.append((lever.feature, values, np.asarray(distance), delta))
    scored = 0
    for k in range(1, min(3, len(moves)) + 1):
        combos = list(itertools.combinations(range(len(moves)), k))
        combo_id, picks, distances = [], [], []
        for c, combo in enumerate(combos):
            grids = np.meshgrid(*[np.arange(len(moves[i][1])) for i in combo], indexing="ij")
            idx = np.stack([g.ravel() for g in grids], axis=1)
            combo_id.append(np.full(idx.shape[0], c, dtype=np.intp))
            picks.append(idx)
            distances.append(np.asarray(sum(moves[i][2][idx[:, j]] for j, i in enumerate(combo)), dtype=np.float64))
        all_combo, all_picks, all_dist = np.concatenate(combo_id), np.concatenate(picks), np.concatenate(distances)
        order = np.lexsort((*all_picks.T[::-1], all_combo, all_dist))
        for start in range(0, order.shape[0], _BATCH):
            if scored >= max_candidates:
                return None, "candidate_budget", scored
            if time.perf_counter() > deadline:
                return None, "time_budget", scored
            batch = order[start : start + int(min(_BATCH, max_candidates - scored))]
            x = np.repeat(base[None, :], batch.shape[0], axis=0)
            for at, b in enumerate(batch.tolist()):
                for j, i in enumerate(combos[int(all_combo[b])]):
                    x[at] += moves[i][3][all_picks[b, j]]
            p = forest.predict_good(x)
            scored += batch.shape[0]
            hits = np.flatnonzero(p >= threshold)
            if hits.shape[0]:
                best = int(batch[hits[0]])
                combo = combos[int(all_combo[best])]
                changes = tuple((moves[i][0], moves[i][1][int(all_picks[best, j])]) for j, i in enumerate(combo))
                return changes, "", scored
    return None, "", scored


def pct(values: Sequence[float], q: float) -> float:
    """A percentile of wall times (ms)."""
    return float(np.percentile(values, q))


def main() -> None:
    """Run the three searches on each refusal and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=120, help="refused rows to search (default 120)")
    parser.add_argument("--quick", action="store_true", help="30 rows (a smoke run)")
    args = parser.parse_args()
    n_rows = 30 if args.quick else args.rows

    from creditwatch_analytics.training import load_data
    from creditwatch_model import load_model
    from creditwatch_model.counterfactual import counterfactual
    from creditwatch_model.leaf_boxes import build_leaf_boxes

    model = load_model()
    rows = load_data()[model.schema.names].to_dict("records")
    p = model.predict_good(rows)
    refused = [r for r, q in zip(rows, p, strict=True) if q < model.threshold][:n_rows]
    load_start = os.getloadavg()
    t = time.perf_counter()
    build_leaf_boxes(model)
    build_ms = (time.perf_counter() - t) * 1000
    counterfactual(model, refused[0])  # builds the cached leaf boxes once, as the first request would

    exist = found_before = found_after = same_before = same_after = within_candidates = 0
    stops: dict[str, dict[str, int]] = {"before": {}, "after": {}}
    wall: dict[str, list[float]] = {"exhaustive": [], "before": [], "after": []}
    cpu: dict[str, list[float]] = {"exhaustive": [], "before": [], "after": []}

    def timed(name: str, search: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        out = search()
        wall[name].append((time.perf_counter() - t) * 1000)
        cpu[name].append((time.process_time() - c) * 1000)
        return out

    scored_after: list[int] = []
    for row in refused:
        truth, _, needed = timed("exhaustive", lambda r=row: before_search(model, r, math.inf, math.inf))
        old, old_stop, _ = timed("before", lambda r=row: before_search(model, r, 10_000, 50.0))
        new = timed("after", lambda r=row: counterfactual(model, r))
        new_changes = tuple((c.feature, c.to_value) for c in new.changes) if new.status == "found" else None
        scored_after.append(new.candidates_scored)
        for name, stop in (("before", old_stop), ("after", new.stopped_by)):
            if stop:
                stops[name][stop] = stops[name].get(stop, 0) + 1
        exist += truth is not None
        within_candidates += truth is not None and needed <= 10_000
        found_before += old is not None
        found_after += new_changes is not None
        same_before += old is not None and old == truth
        same_after += new_changes is not None and new_changes == truth
    load_end = os.getloadavg()

    print(f"counterfactual search over the first {len(refused)} refusals of the German Credit data")
    print(f"({os.cpu_count()} CPUs; load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f})\n")
    print(f"exhaustive (every candidate, no bound): {exist} have a counterfactual")
    print(
        f"  per refusal: wall p50 {pct(wall['exhaustive'], 50):.1f} ms, p99 {pct(wall['exhaustive'], 99):.1f} ms; "
        f"the old order reaches {within_candidates} of them within 10,000 candidates (no clock)\n"
    )
    for name, found, same in (("before", found_before, same_before), ("after", found_after, same_after)):
        share = 100.0 * found / exist if exist else 100.0
        print(f"{name} (default bounds: 10,000 candidates, 50 ms)")
        print(
            f"  found {found} / {exist} ({share:.1f}%), the exhaustive answer in {same}; "
            f"stopped by {stops[name] or 'nothing'}"
        )
        print(
            f"  per refusal: wall p50 {pct(wall[name], 50):.1f} ms, p99 {pct(wall[name], 99):.1f} ms, "
            f"max {max(wall[name]):.1f} ms; CPU p50 {pct(cpu[name], 50):.1f} ms, p99 {pct(cpu[name], 99):.1f} ms"
        )
    print(
        f"\nafter: candidates scored by the leaf sums p50 {pct(scored_after, 50):.0f}, max {max(scored_after)}; "
        f"leaf boxes built once per model in {build_ms:.1f} ms"
    )
    print(f"summary: found {found_before} -> {found_after} of {exist} within the default bounds")


if __name__ == "__main__":
    main()
