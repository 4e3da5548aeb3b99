"""Drift job speed and memory on 100,000 logged rows, and the time to read them from the local stack.

    .venv/bin/python bench/drift_bench.py [--quick]

Report: each size runs in a fresh interpreter (so peak RSS is that run's own), timing the steps the
drift function takes after reading the log: log records -> DataFrame, Evidently Report.run (current
first), the HTML rendering, attribution drift and estimated quality (CBPE; its baseline in the same run:
each row's resampled copies and their outcomes drawn one by one instead of per score group). The
baseline in the same run is the same pipeline on 10,000 rows, and the cap the function applies by
default (DRIFT_MAX_ROWS=50,000, a uniform sample).

Read: a moto server in its own process with the template's table, 100,000 records written through
the prediction log, then read back with the drift function's query (projection, every shard of every
day, pages followed): one worker (the baseline) against the default eight.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions/drift"), str(ROOT / "layers/model/python"), str(ROOT / "layers/common/python")]
os.environ.setdefault("DO_NOT_TRACK", "1")


def log_rows(n: int, seed: int) -> list[Any]:
    """Rows as the drift job reads them from the log (features map + outputs), half of them shifted."""
    import numpy as np
    import pandas as pd

    from creditwatch_common.ids import uuid7
    from creditwatch_common.records import ScoredRow
    from creditwatch_model import REFERENCE_FILE, load_model, model_dir

    model = load_model()
    ref = pd.read_csv(
        model_dir() / REFERENCE_FILE, dtype={f.name: str for f in model.schema.features if f.is_categorical}
    )
    rng = np.random.default_rng(seed)
    picked = ref.iloc[rng.integers(0, len(ref), size=n)][model.schema.names].reset_index(drop=True)
    shifted = rng.random(n) < 0.5
    picked.loc[shifted, "credit_amount"] = (picked.loc[shifted, "credit_amount"] * 2.5).round(2)
    picked.loc[shifted, "duration_in_month"] = (picked.loc[shifted, "duration_in_month"] + 18).clip(upper=120)
    features = picked.to_dict("records")
    p = model.predict_good(features)
    return [
        ScoredRow(
            prediction_id=uuid7(),
            features=f,
            probability_good_credit=float(pg),
            decision="approve" if pg >= model.threshold else "refuse",
            model_version=model.version,
        )
        for f, pg in zip(features, p, strict=True)
    ]


ATTRIBUTION_ROWS = 20_000  # the drift function's default ATTRIBUTION_MAX_ROWS


def report_child(n: int, max_rows: int) -> dict[str, float]:
    """One report run (in a fresh interpreter): timings of each step and peak RSS."""
    t0 = time.perf_counter()
    from creditwatch_drift.analysis import PROBABILITY, analyse, current_frame, empty_columns
    from creditwatch_drift.service import load_reference
    from creditwatch_model import load_model

    import_s = time.perf_counter() - t0
    model = load_model()
    reference = load_reference(model)
    rows = log_rows(n, seed=1)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    current = current_frame(rows, model, max_rows)
    frame_s = time.perf_counter() - t
    t = time.perf_counter()
    import evidently  # noqa: F401 - imported inside analyse(); timed apart from the run

    evidently_import_s = time.perf_counter() - t
    t = time.perf_counter()
    result = analyse(current.frame, reference, model, 0.3, empty_columns(current.frame, model.schema.names))
    run_s = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        result.snapshot.save_html(str(path))
        html_mb = path.stat().st_size / 2**20
    html_s = time.perf_counter() - t
    from creditwatch_drift.attribution import attribution_drift, load_reference_contributions

    current.frame["decision"] = ["approve" if p >= model.threshold else "refuse" for p in current.frame[PROBABILITY]]
    t = time.perf_counter()
    attribution = attribution_drift(
        current.frame, reference, load_reference_contributions(model), model, 0.9, ATTRIBUTION_ROWS
    )
    attribution_s = time.perf_counter() - t
    estimate = estimate_timings(current.frame[PROBABILITY].to_numpy(dtype=float), model)
    return {
        **estimate,
        "attribution_s": attribution_s,
        "attribution_rows": attribution.rows,
        "attribution_ndcg": attribution.ndcg,
        "rows": n,
        "rows_used": len(current.frame),
        "frame_s": frame_s,
        "evidently_import_s": evidently_import_s,
        "run_s": run_s,
        "html_s": html_s,
        "report_s": frame_s + run_s + html_s,
        "html_mb": html_mb,
        "drift_share": result.drift_share,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_report_mb": rss_before,
        "import_s": import_s,
    }


def estimate_timings(p_good: Any, model: Any) -> dict[str, float]:
    """Estimated quality (CBPE) on the window's scores: the drift function's 1,000 resamples, and at 200
    resamples the default (outcomes drawn per score group) against every row's copies and outcomes drawn
    one by one (the baseline)."""
    import numpy as np

    from creditwatch_model import model_dir
    from creditwatch_model.calibration import Calibration
    from creditwatch_model.estimate import ESTIMATED, estimate_quality
    from creditwatch_model.quality import Scored, resample_figures

    calibration = Calibration.load(model_dir())
    out = {}
    for key, resamples in (("estimate_s", 1000), ("estimate_200_s", 200)):
        t = time.perf_counter()
        estimate_quality(p_good, calibration, model.threshold, n_boot=resamples)
        out[key] = time.perf_counter() - t
    t = time.perf_counter()
    scored = Scored(p_good, threshold=model.threshold)
    q = calibration.bad_probability(scored.p)

    def per_row(rng: np.random.Generator, k: int) -> tuple[Any, Any]:
        copies = rng.poisson(1.0, size=(k, scored.n))
        bad = rng.binomial(copies, q).astype(float)
        return bad, copies - bad

    resample_figures(scored, per_row, 200, 0, ESTIMATED)
    out["estimate_200_per_row_s"] = time.perf_counter() - t
    out["distinct_scores"] = float(len(np.unique(p_good)))
    return out


def run_report(n: int, max_rows: int, repeats: int) -> list[dict[str, float]]:
    """Repeat the child run; each in its own interpreter."""
    out = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(n), str(max_rows)], capture_output=True, text=True, check=True
        )
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def median(runs: list[dict[str, float]], key: str) -> float:
    """Median of one figure over runs."""
    import statistics

    return float(statistics.median(r[key] for r in runs))


def read_bench(n: int) -> None:
    """Write n records to a moto server with the template's table, then time the drift query."""
    sys.path.insert(0, str(ROOT / "src"))
    from creditwatch.local.resources import create_resources
    from creditwatch.local.stack import boto_client, free_port
    from creditwatch.local.template import Template
    from creditwatch_common.log import PredictionLog
    from creditwatch_common.records import LogRecord, ScoredRow

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                boto_client("dynamodb", endpoint).list_tables()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        template = Template(endpoint=endpoint)
        create_resources(template, lambda s: boto_client(s, endpoint))
        log = PredictionLog(
            dynamodb=boto_client("dynamodb", endpoint),
            table=template.ref("PredictionsTable"),
            shards=int(template.parameters["LogShards"]),
        )
        rows = log_rows(n, seed=2)
        start = datetime.now(UTC) - timedelta(seconds=1)
        t = time.perf_counter()
        batch: list[LogRecord] = []
        for r in rows:
            batch.append(
                LogRecord(
                    request_id="bench",
                    kind="request",
                    route="/predict",
                    status=200,
                    latency_ms=1.0,
                    prediction_id=r.prediction_id,
                    features=r.features,
                    probability_good_credit=r.probability_good_credit,
                    decision=r.decision,
                    model_version=r.model_version,
                )
            )
            if len(batch) == 1000:
                log.write(batch)
                batch = []
        if batch:
            log.write(batch)
        write_s = time.perf_counter() - t
        end = datetime.now(UTC) + timedelta(seconds=1)
        print(f"\nread {n:,} rows from the local stack (moto server, {template.parameters['LogShards']} shards)")
        print(f"  setup: wrote them in {write_s:.1f} s through PredictionLog.write (BatchWriteItem)")
        timings = {}
        for workers in (1, 8):
            t = time.perf_counter()
            got = sum(1 for _ in log.query_window(start, end, ScoredRow, scored_only=True, workers=workers))
            timings[workers] = time.perf_counter() - t
            assert got == n, (got, n)
            print(f"  query_window, {workers} worker(s): {timings[workers]:.2f} s ({n / timings[workers]:,.0f} rows/s)")
        print(
            f"  ratio 1 worker / 8 workers: {timings[1] / timings[8]:.1f}x (moto answers from one Python process, "
            "so parallel queries gain nothing here; against DynamoDB the shards are read in parallel)"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # werkzeug's threaded server may ignore SIGTERM mid-request
            server.kill()
            server.wait()


def main() -> None:
    """Run the report sizes, then the read."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(report_child(int(sys.argv[2]), int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition, 20,000 rows read")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    print(f"creditwatch drift benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}); medians of {repeats}")
    configs = [
        ("10,000 rows (baseline)", 10_000, 10**9),
        ("100,000 rows, no cap", 100_000, 10**9),
        ("100,000 rows, default cap 50,000", 100_000, 50_000),
    ]
    results = {}
    for label, n, cap in configs:
        runs = run_report(n, cap, repeats)
        results[label] = runs
        print(
            f"  {label:<34} report {median(runs, 'report_s'):5.2f} s (frame {median(runs, 'frame_s'):.2f}, "
            f"Report.run {median(runs, 'run_s'):.2f}, HTML {median(runs, 'html_s'):.2f}; "
            f"{median(runs, 'html_mb'):.1f} MB)  peak RSS {median(runs, 'peak_rss_mb'):,.0f} MB  "
            f"drift share {median(runs, 'drift_share'):.2f}; attribution drift over "
            f"{median(runs, 'attribution_rows'):,.0f} rows {median(runs, 'attribution_s'):.2f} s "
            f"(NDCG {median(runs, 'attribution_ndcg'):.3f}, first use builds the tables)"
        )
        print(
            f"  {'':<34} estimated quality (CBPE) on {median(runs, 'rows_used'):,.0f} scores: "
            f"{median(runs, 'estimate_s'):.2f} s at 1,000 resamples; at 200 resamples pooled "
            f"{median(runs, 'estimate_200_s'):.2f} s vs row by row {median(runs, 'estimate_200_per_row_s'):.2f} s "
            f"(baseline; {median(runs, 'estimate_200_per_row_s') / median(runs, 'estimate_200_s'):.1f}x; "
            f"{median(runs, 'distinct_scores'):,.0f} distinct scores)"
        )
    base, full = results[configs[0][0]], results[configs[1][0]]
    print(f"  Evidently import (once per cold start): {median(full, 'evidently_import_s'):.2f} s")
    print(
        f"  ratio 100k / 10k report time: {median(full, 'report_s') / median(base, 'report_s'):.1f}x for 10x the rows;"
        f" targets: report <= 10 s, peak <= 1,500 MB"
    )
    read_bench(20_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
