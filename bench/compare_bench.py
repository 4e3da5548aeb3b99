"""The comparison over a million shadow records through the lake: time and peak memory (goal: <= 60 s, <= 2 GB).

    .venv/bin/python bench/compare_bench.py [--records 1000000] [--labelled-share 0.1] [--repeats 1]

The lake is written synthetically (no predict traffic): hours of 60,000 records (1,000 requests a minute)
in the lake's schema, as bench/window_bench.py writes them, with a challenger's columns filled (its
P(good) the champion's plus noise, its decision, both first reasons on refusals), and one outcomes object
per hour for a share of the records. Everything goes to a moto server in its own process. The measured
child then runs what the compare job runs (creditwatch_analytics.comparison.compare: read_window through
the lake engine, then compare with 1,000 resamples) in a fresh interpreter, with its imports done and
its S3 filesystem built (a warm function's state), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "src"), str(ROOT / "layers/model/python")]
sys.path[:0] = [str(ROOT / "layers/common/python"), str(ROOT / "layers/analytics/python")]
os.environ.setdefault("DO_NOT_TRACK", "1")

from window_bench import DAY0, PER_HOUR, _free_port, _hour_table  # noqa: E402

BUCKET = "bench-compare"
REASONS = ["duration_in_month", "credit_amount", "status_of_existing_checking_account", "purpose", "age_in_years"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shadow_hour(hour: datetime, n: int, seed: int, labelled_share: float) -> tuple[Any, Any]:
    """One hour of shadowed records in the lake's schema, and its outcome events (a share of the records)."""
    import numpy as np
    import pyarrow as pa

    from creditwatch_analytics.lake.outcomes import OUTCOME_SCHEMA

    table = _hour_table(hour, n, seed)
    rng = np.random.default_rng(seed + 10_000)
    p = table.column("probability_good_credit").to_numpy()
    q = np.clip(p + 0.03 + rng.normal(0, 0.08, n), 0, 1)
    refused_c, refused_h = p < 0.5, q < 0.5
    picks = [REASONS[i] for i in rng.integers(0, len(REASONS), n).tolist()]
    columns = {
        "first_reason": pa.array([r if no else None for r, no in zip(picks, refused_c.tolist(), strict=True)]),
        "challenger_version": pa.array(["chall-bench"] * n),
        "challenger_probability_good_credit": pa.array(q),
        "challenger_decision": pa.array(np.where(refused_h, "refuse", "approve").tolist()),
        "challenger_first_reason": pa.array(
            [r if no else None for r, no in zip(picks, refused_h.tolist(), strict=True)]
        ),
    }
    for name, values in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, values.cast(table.schema.field(name).type))
    chosen = rng.random(n) < labelled_share
    ids = table.column("prediction_id").filter(pa.array(chosen))
    k = len(ids)
    recorded = pa.array(np.full(k, int((hour + timedelta(minutes=59)).timestamp() * 1000)), pa.int64())
    outcomes = pa.table(
        {
            "prediction_id": ids,
            "outcome": pa.array(np.where(rng.random(k) < q[chosen], "good", "bad").tolist()),
            "observed_at": recorded.cast(pa.timestamp("ms", tz="UTC")),
            "recorded_at": recorded.cast(pa.timestamp("ms", tz="UTC")),
            "correction": pa.array(np.zeros(k, dtype=bool)),
            "previous": pa.nulls(k, pa.string()),
            "schema_version": pa.array(np.ones(k, dtype=np.int16)),
        },
        schema=OUTCOME_SCHEMA,
    )
    return table, outcomes


def write_lake(endpoint: str, records: int, labelled_share: float) -> tuple[int, float]:
    """The hours holding `records` shadowed records, and their outcomes; hours written and MB."""
    import io

    import pyarrow.parquet as pq

    from creditwatch.local.stack import boto_client
    from creditwatch_analytics.lake.export import hour_key, parquet_bytes

    s3 = boto_client("s3", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    hours = math.ceil(records / PER_HOUR)
    total = 0
    for h in range(hours):
        hour = DAY0 + timedelta(hours=h)
        n = min(PER_HOUR, records - h * PER_HOUR)
        table, outcomes = shadow_hour(hour, n, h, labelled_share)
        body = parquet_bytes(table)
        s3.put_object(Bucket=BUCKET, Key=hour_key("predictions", hour), Body=body)
        buf = io.BytesIO()
        pq.write_table(outcomes, buf)
        s3.put_object(Bucket=BUCKET, Key=hour_key("outcomes", hour), Body=buf.getvalue())
        total += len(body) + buf.tell()
    return hours, total / 2**20


def child(endpoint: str, hours: int) -> dict[str, Any]:
    """The compare job's read and figures over the window, timed in this (fresh) interpreter."""
    import boto3
    import duckdb  # noqa: F401 - a warm function has these imported
    import pyarrow.parquet  # noqa: F401
    import sqlglot  # noqa: F401

    from creditwatch.local.stack import boto_client
    from creditwatch_analytics.comparison.compare import PROTECTED_COLUMNS, compare, read_window
    from creditwatch_analytics.comparison.models import Rule
    from creditwatch_analytics.lake.window import LakeWindow, s3_filesystem

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    lake = LakeWindow(
        filesystem=lambda: s3_filesystem(session, endpoint),
        s3=boto_client("s3", endpoint),
        bucket=BUCKET,
        feature_names=list(PROTECTED_COLUMNS),
    )
    assert lake.fs is not None
    t = time.perf_counter()
    window = read_window(lake, DAY0, DAY0 + timedelta(hours=hours), 2_000_000, 200_000)
    read_s = time.perf_counter() - t
    figures = compare(window.shadow, window.labelled, Rule(resamples=1000), age_cuts=(25,), min_group_size=30)
    seconds = time.perf_counter() - t
    assert figures is not None
    return {
        "records": window.rows_read,
        "shadow_rows": figures.shadow_rows,
        "labelled_rows": figures.realized.rows,
        "read_s": read_s,
        "seconds": seconds,
        "peak_rss_mb": _rss_mb(),
        "verdict": figures.verdict,
        "swap_total": figures.swap_set.total,
    }


def main() -> None:
    """Write the lake, run the comparison in fresh interpreters, print time and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--labelled-share", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        t = time.perf_counter()
        hours, mb = write_lake(endpoint, args.records, args.labelled_share)
        print(f"wrote {hours} hours: {args.records:,} shadowed records, {mb:.1f} MB ({time.perf_counter() - t:.0f} s)")
        runs = []
        for _ in range(args.repeats):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", endpoint, str(hours)], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                raise SystemExit(f"child failed:\n{proc.stderr[-4000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(timeout=10)
    load = os.getloadavg()[0]
    for r in runs:
        print(
            f"comparison over {r['records']:,} records ({r['shadow_rows']:,} shadow rows, swap set adds up to "
            f"{r['swap_total']:,}; {r['labelled_rows']:,} matured outcomes, 1,000 resamples): "
            f"{r['seconds']:.1f} s (read {r['read_s']:.1f} s), peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"verdict {r['verdict']}   goal: <= 60 s, <= 2048 MB"
        )
    print(f"load average at the end: {load:.2f} ({os.cpu_count()} cores; a figure over 1.5 means a busy machine)")


if __name__ == "__main__":
    main()
