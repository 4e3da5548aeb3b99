"""Explanation speed: our numpy TreeSHAP against shap's TreeExplainer (C++), side by side in one run.

    .venv/bin/python bench/explain_bench.py [--quick]

Both explain the same encoded rows of the same forest (pipeline.joblib's, which forest.npz packs) with the
path-dependent definition; ours also sums the one-hot columns back to the 19 features (included in its time),
shap's is the bare `shap_values` call. Also: the tables' lazy build (covers read + build, the first
explanation's extra cost), their memory, a fresh interpreter's model load (what the predict function's cold
start pays, tables not built) and the counterfactual search. Figures are medians.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from timing import timings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/model/python"), str(ROOT / "src")]

COLD = """
import sys, time
sys.path[:0] = [sys.argv[1]]
t = time.perf_counter()
from creditwatch_model import load_model
model = load_model()
t_load = time.perf_counter()
model.explainer
t_tables = time.perf_counter()
print((t_load - t) * 1000, (t_tables - t_load) * 1000, "shap" in sys.modules or "sklearn" in sys.modules)
"""


def med(values: list[float]) -> float:
    """The median."""
    return float(np.median(values))


def contributions_side_by_side(
    tables: Any, explainer: Any, encoded: np.ndarray, n_one: int, n_batch: int
) -> dict[str, list[float]]:
    """Contributions of one row and of every row of `encoded`: our tables against shap's C++ (ms per call)."""
    one = encoded[:1]
    return {
        "ours_one": timings(lambda: tables.contributions(one), n_one, warmup=20),
        "shap_one": timings(lambda: explainer.shap_values(one, check_additivity=False), n_one, warmup=20),
        "ours_batch": timings(lambda: tables.contributions(encoded), n_batch),
        "shap_batch": timings(lambda: explainer.shap_values(encoded, check_additivity=False), n_batch),
    }


def main() -> None:
    """Run every measurement and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args()
    n_one, n_batch, n_cold, n_cf = (50, 3, 2, 20) if args.quick else (500, 15, 7, 100)

    import joblib
    import shap

    from creditwatch_analytics.training import load_data
    from creditwatch_model import ARTIFACTS_DIR, EXPLAIN_FILE, load_model
    from creditwatch_model.counterfactual import counterfactual
    from creditwatch_model.explain import ForestCover, PathTables

    model = load_model()
    pipeline = joblib.load(ARTIFACTS_DIR / "pipeline.joblib")
    forest = pipeline.named_steps["classifier"]
    good = list(forest.classes_).index(1)
    data = load_data()[model.schema.names]
    records = data.sample(1000, random_state=1, replace=False).to_dict("records")
    encoded = model.encode(records)

    print(f"creditwatch explanation benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"model {model.version}, shap {shap.__version__}\n")

    build = timings(
        lambda: PathTables(model.forest, ForestCover.load(ARTIFACTS_DIR / EXPLAIN_FILE), model.column_feature),
        max(3, n_batch // 3),
        warmup=1,
    )
    tables = model.explainer
    explainer = shap.TreeExplainer(forest)

    side = contributions_side_by_side(tables, explainer, encoded, n_one, n_batch)
    ours_one, shap_one, ours_batch, shap_batch = (side[k] for k in ("ours_one", "shap_one", "ours_batch", "shap_batch"))
    whole_one = timings(lambda: model.explain(records[:1]), n_one, warmup=20)
    whole_batch = timings(lambda: model.explain(records), n_batch)

    print("contributions (ours: numpy tables, summed to 19 features; shap: TreeExplainer C++, 44 columns)")
    print(
        f"  one row      ours {med(ours_one):8.3f} ms   shap {med(shap_one):8.3f} ms   ratio shap/ours "
        f"{med(shap_one) / med(ours_one):5.1f}x   (ours with encoding, model.explain: {med(whole_one):.3f} ms)"
    )
    print(
        f"  1,000 rows   ours {med(ours_batch):8.1f} ms   shap {med(shap_batch):8.1f} ms   ratio shap/ours "
        f"{med(shap_batch) / med(ours_batch):5.1f}x   (model.explain: {med(whole_batch):.1f} ms)"
    )

    _, ours_phi = model.explain(records)
    theirs = explainer.shap_values(encoded, check_additivity=False)[:, :, good]
    per_feature = np.zeros_like(ours_phi)
    np.add.at(per_feature.T, model.column_feature, theirs.T)
    print(f"  parity on these rows: max |diff| {np.max(np.abs(ours_phi - per_feature)):.1e}\n")

    print("tables")
    print(
        f"  build (read explain.npz + {tables.n_paths:,} paths' tables), on the first explanation: {med(build):.0f} ms"
    )
    print(
        f"  memory: {tables.nbytes / 2**20:.1f} MB ({tables.table.nbytes / 2**20:.1f} MB of tables); "
        f"explain.npz on disk {(ARTIFACTS_DIR / EXPLAIN_FILE).stat().st_size / 1024:.1f} KB\n"
    )

    loads, firsts, heavy = [], [], False
    for _ in range(n_cold):
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(ROOT / "layers/model/python")], capture_output=True, text=True, check=True
        )
        load_ms, tables_ms, imported = out.stdout.split()
        loads.append(float(load_ms))
        firsts.append(float(tables_ms))
        heavy |= imported == "True"
    print("fresh interpreter (what a cold start pays; the tables wait for the first explanation)")
    print(
        f"  import creditwatch_model + load_model(): {med(loads):.0f} ms; then the tables: {med(firsts):.0f} ms; "
        f"shap or scikit-learn imported: {heavy}\n"
    )

    p = model.predict_good(records)
    refused = [r for r, q in zip(records, p, strict=True) if q < model.threshold][:n_cf]
    results = []
    cf_times = []
    for r in refused:
        t = time.perf_counter()
        results.append(counterfactual(model, r))
        cf_times.append((time.perf_counter() - t) * 1000)
    found = sum(c.status == "found" for c in results)
    stopped = sum(c.stopped_by == "time_budget" for c in results)
    print(f"counterfactual search over {len(refused)} refused applications (defaults: 10,000 candidates, 50 ms)")
    print(
        f"  median {med(cf_times):.1f} ms, p90 {float(np.percentile(cf_times, 90)):.1f} ms, "
        f"max {max(cf_times):.1f} ms; found {found}, stopped by the clock {stopped}"
    )
    print(
        f"\nsummary: one row {med(ours_one):.3f} ms vs shap {med(shap_one):.3f} ms "
        f"({med(shap_one) / med(ours_one):.1f}x); 1,000 rows {med(ours_batch):.0f} ms vs {med(shap_batch):.0f} ms "
        f"({med(shap_batch) / med(ours_batch):.1f}x); tables {med(build):.0f} ms, {tables.nbytes / 2**20:.1f} MB"
    )


if __name__ == "__main__":
    main()
