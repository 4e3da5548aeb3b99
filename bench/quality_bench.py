"""The quality job's compute on 100,000 labelled rows against the seeds' way, in one run.

    .venv/bin/python bench/quality_bench.py [--quick] [--rows 100000] [--resamples 1000] [--repeats 3]

Rows: the model's reference rows drawn with replacement, numeric features jittered, scored by the numpy
forest (P(good)); outcomes drawn from the calibrated P(bad) (quality as validated); approved = P(good) >=
the model's threshold.

ours: what a quality run computes from the cohort's arrays: the realized figures (AUC, Gini, KS, Brier,
log loss, ECE, approval rate, bad rate among approved, expected cost, accuracy) with the vectorised Poisson
bootstrap (creditwatch_model.quality), the calibration table and the confusion matrix; then, reported
apart, outcome fairness by group (fairlearn MetricFrame) and the CBPE estimate on the same rows.

seeds' way (baseline): the same figures with scikit-learn on a pandas frame (roc_auc_score, roc_curve for
KS, brier_score_loss, log_loss, confusion_matrix; ECE and the calibration table by pandas groupby), the
bootstrap done naively: `frame.sample(n, replace=True)` and every figure again, per resample. The baseline
runs `--baseline-resamples` resamples (default 50: 1,000 take minutes) and its per-resample time is
extrapolated to `--resamples`, printed as such.

Time: median wall time of `--repeats` runs. Memory: peak traced allocations (tracemalloc) of one run of each,
measured apart from the timed runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / "src"),
    str(ROOT / "functions/drift"),
    str(ROOT / "layers/model/python"),
    str(ROOT / "layers/common/python"),
]
os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from creditwatch_drift.service import load_reference  # noqa: E402
from creditwatch_model import load_model, model_dir  # noqa: E402
from creditwatch_model.calibration import Calibration  # noqa: E402
from creditwatch_quality.fairness import outcome_fairness  # noqa: E402
from creditwatch_quality.figures import Labelled, calibration_table, confusion, realized  # noqa: E402
from creditwatch_quality.reference import load_estimator  # noqa: E402


def synthetic(rows: int, seed: int = 0) -> tuple[pd.DataFrame, Any]:
    """Reference rows drawn with replacement, numbers jittered, scored by the model, outcomes drawn."""
    model = load_model()
    reference = load_reference(model)
    rng = np.random.default_rng(seed)
    frame = reference.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    for f in model.schema.features:
        if f.dtype == "float":
            frame[f.name] = frame[f.name] * rng.uniform(0.9, 1.1, size=rows)
    features = frame[model.schema.names].to_dict("records")
    p = np.asarray(model.predict_good(features), dtype=float)
    p_bad = Calibration.load(model_dir()).bad_probability(p)
    frame["probability_good_credit"] = p
    frame["good"] = (rng.uniform(size=rows) >= p_bad).astype(int)
    frame["approved"] = p >= model.threshold
    return frame, model


def ours(frame: pd.DataFrame, threshold: float, resamples: int) -> dict[str, Any]:
    """The quality job's figures from arrays."""
    data = Labelled(
        y=frame["good"].to_numpy(), p=frame["probability_good_credit"].to_numpy(), approved=frame["approved"].to_numpy()
    )
    return {
        "realized": realized(data, resamples=resamples, seed=0),
        "calibration": calibration_table(data),
        "confusion": confusion(data, threshold),
    }


def seeds_way(frame: pd.DataFrame, resamples: int) -> dict[str, Any]:
    """The same figures with scikit-learn on a pandas frame, bootstrap by resampling the frame."""
    from sklearn.metrics import brier_score_loss, confusion_matrix, log_loss, roc_auc_score, roc_curve

    def figures(f: pd.DataFrame) -> dict[str, float]:
        y, p, a = f["good"], f["probability_good_credit"], f["approved"]
        auc = roc_auc_score(y, p)
        fpr, tpr, _ = roc_curve(y, p)
        tn, fp, fn, tp = confusion_matrix(y, a.astype(int), labels=[0, 1]).ravel()
        p_bad = 1 - p
        band = np.minimum((p_bad * 10).astype(int), 9)
        by_band = pd.DataFrame({"band": band, "p_bad": p_bad, "bad": 1 - y}).groupby("band")
        table = by_band.agg(rows=("bad", "size"), expected=("p_bad", "mean"), observed=("bad", "mean"))
        n = len(f)
        return {
            "auc": auc,
            "gini": 2 * auc - 1,
            "ks": float(np.max(tpr - fpr)),
            "brier": brier_score_loss(y, p),
            "log_loss": log_loss(y, p),
            "ece": float((table["rows"] / n * (table["expected"] - table["observed"]).abs()).sum()),
            "approval_rate": (tp + fp) / n,
            "bad_rate_approved": fp / (tp + fp),
            "expected_cost": (5 * fp + fn) / n,
            "accuracy": (tp + tn) / n,
        }

    point = figures(frame)
    draws = [figures(frame.sample(n=len(frame), replace=True, random_state=i)) for i in range(resamples)]
    intervals = {k: np.percentile([d[k] for d in draws], [2.5, 97.5]) for k in point} if draws else {}
    return {"point": point, "intervals": intervals}


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    out, times = fn(), []  # a warm-up run: imports and first-call caches are not the figure
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--baseline-resamples", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.baseline_resamples = 10_000, 1, 20
    frame, model = synthetic(args.rows)
    print(f"{args.rows:,} labelled rows (bad rate {1 - frame['good'].mean():.1%}), {args.resamples} resamples")

    t_ours, result = timed(lambda: ours(frame, model.threshold, args.resamples), args.repeats)
    t_point, baseline_point = timed(lambda: seeds_way(frame, 0), args.repeats)
    t_base, _ = timed(lambda: seeds_way(frame, args.baseline_resamples), args.repeats)
    per_resample = max(t_base - t_point, 0.0) / args.baseline_resamples
    t_baseline = t_point + per_resample * args.resamples
    # Same figures: the point values agree with scikit-learn's.
    diffs = {k: abs((result["realized"][k].value or 0) - v) for k, v in baseline_point["point"].items()}
    assert max(diffs.values()) < 1e-6, diffs  # ours are rounded to 6 places

    m_ours = peak_mb(lambda: ours(frame, model.threshold, args.resamples))
    m_base = peak_mb(lambda: seeds_way(frame, args.baseline_resamples))

    groups = frame[["personal_status_and_sex", "age_in_years", "foreign_worker"]]
    t_fair, _ = timed(
        lambda: outcome_fairness(
            groups,
            frame["good"].to_numpy(),
            frame["approved"].to_numpy(),
            frame["probability_good_credit"].to_numpy(),
            age_cuts=(25,),
            min_group_size=30,
            resamples=args.resamples,
        ),
        args.repeats,
    )
    estimator, _ = load_estimator(model.threshold, args.resamples, 0)
    t_cbpe = timed(lambda: estimator(frame["probability_good_credit"].to_numpy()), args.repeats)[0] if estimator else 0

    print(f"{'':44} {'time (s)':>10} {'peak MB':>9}")
    print(f"{'ours: figures + bootstrap + calibration':44} {t_ours:10.2f} {m_ours:9.1f}")
    print(
        f"{'seeds: sklearn/pandas, naive bootstrap':44} {t_baseline:10.2f} {m_base:9.1f}"
        f"   (point {t_point:.2f} s + {per_resample * 1000:.0f} ms/resample x {args.resamples},"
        f" measured on {args.baseline_resamples})"
    )
    print(f"ratio (seeds / ours): time {t_baseline / t_ours:.1f}x, peak memory {m_base / max(m_ours, 1e-9):.2f}x")
    print(f"max |figure - scikit-learn| {max(diffs.values()):.1e}")
    print(f"ours also: outcome fairness (fairlearn) {t_fair:.2f} s, CBPE estimate {t_cbpe:.2f} s")


if __name__ == "__main__":
    main()
