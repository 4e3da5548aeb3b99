"""Window reads: µs per record and peak memory of the `dynamodb` reader and the `lake` engine.

    .venv/bin/python bench/window_bench.py [--quick] [--no-week] [--repeats 3]

dynamodb: the drift job's read and sample path (DynamoWindow.scored_sample -> sample_frame: every
day x shard partition queried, pages streamed through the bounded queue, items deserialised into
ScoredRows, bottom-k sample of DRIFT_MAX_ROWS, the frame Evidently gets) against a stub DynamoDB
client that serves 1 MB pages of real projected items instantly, so DynamoDB's own time is not counted.

lake: the same sample of the same window size through LakeWindow.scored_sample -> sample_frame: list
the window's hour objects, fetch each whole through pyarrow's S3 filesystem (16 at a time) into a
temporary local folder, check each footer's schema version, DuckDB in process running the Athena
engine's three queries (model versions, counts, the bottom-k sample) over the folder's files, the
sample as the frame. The Parquet is written directly (one object per hour, 60,000 records: 1,000 requests a minute)
to a moto server in its own process: a 1.44 M-record day and a 10.08 M-record week.

Both paths start the clock with their clients built, modules imported and the heap settled as the
handler's init leaves it (creditwatch_common.heap.settle_heap): a warm function's state. The clients are
the dynamodb path's, and the lake's S3 filesystem (the AWS SDK's ~0.1 s start, once a process).

Each measurement runs in a fresh interpreter, so its peak RSS is its own; figures are medians of the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
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

PER_HOUR = 60_000  # 1,000 requests a minute
MAX_ROWS = 50_000  # DRIFT_MAX_ROWS default
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)
PAGE_BYTES = 1 << 20


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- the dynamodb reader, against instant 1 MB pages -------------------------------------------------


class InstantPages:
    """A DynamoDB client whose Query answers at once with 1 MB pages of real projected items."""

    def __init__(self, pages: list[list[dict[str, Any]]], per_partition: int) -> None:
        self.pages = pages
        self.per_partition = per_partition

    def query(self, **kw: Any) -> dict[str, Any]:
        """Page i of the partition; pages of the pool are served in turn (ids repeat across partitions)."""
        start = kw.get("ExclusiveStartKey")
        i = int(start["i"]["N"]) if start else 0
        pk = kw["ExpressionAttributeValues"][":pk"]["S"]
        resp: dict[str, Any] = {"Items": self.pages[(i + sum(map(ord, pk))) % len(self.pages)]}
        if i + 1 < self.per_partition:
            resp["LastEvaluatedKey"] = {"i": {"N": str(i + 1)}}
        return resp


def _items(n: int, seed: int) -> list[dict[str, Any]]:
    """n items as the drift query's projection returns them (features as one JSON string)."""
    from creditwatch_common.log.items import to_items

    table = _hour_table(DAY0, n, seed)
    names = _feature_names()
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    records = []
    for i in range(n):
        records.append(
            {
                "prediction_id": cols["prediction_id"][i],
                "features": {f: cols[f][i] for f in names if cols[f][i] is not None},
                "probability_good_credit": cols["probability_good_credit"][i],
                "decision": cols["decision"][i],
                "model_version": cols["model_version"][i],
            }
        )
    items = to_items(records, 16, 90)
    keep = ("prediction_id", "features", "probability_good_credit", "decision", "model_version")
    return [{k: item[k] for k in keep} for item in items]


def _count_spec() -> Any:
    """What the drift job counts over the whole window: the shipped PSI bins and the protected groups."""
    from creditwatch_analytics.groups import group_specs
    from creditwatch_analytics.lake.sql import CountSpec
    from creditwatch_drift.stability import bin_specs, load_stability_bins
    from creditwatch_model import load_model

    bins = load_stability_bins()
    assert bins is not None
    return CountSpec(bin_specs(bins, load_model()), group_specs((25,)))


def dynamodb_child(records: int) -> dict[str, float]:
    """Time the dynamodb path over a window of about `records` records (one day, 16 shards)."""
    from creditwatch_analytics.lake.window import DynamoWindow
    from creditwatch_common.heap import settle_heap
    from creditwatch_common.log import LogReader
    from creditwatch_drift.analysis import sample_frame
    from creditwatch_model import load_model

    model = load_model()
    sample_items = _items(2_000, seed=5)
    size = len(json.dumps(sample_items)) / len(sample_items)
    per_page = int(PAGE_BYTES / size)
    pool = [_items(per_page, seed=10 + i) for i in range(8)]
    shards = 16
    per_partition = max(1, round(records / shards / per_page))
    served = shards * per_partition * per_page
    reader = LogReader(dynamodb=InstantPages(pool, per_partition), table="bench", shards=shards)
    window = DynamoWindow(reader)
    spec = _count_spec()
    settle_heap()
    rss_before = _rss_mb()
    t = time.perf_counter()
    sample = window.scored_sample(DAY0, DAY0 + timedelta(days=1), MAX_ROWS, 0, spec)
    current = sample_frame(sample.rows, sample.rows_read, sample.model_versions, model, MAX_ROWS)
    seconds = time.perf_counter() - t
    assert sample.counts is not None and sample.rows_read == served == sample.counts.rows, (sample.rows_read, served)
    return {
        "records": served,
        "seconds": seconds,
        "us_per_record": seconds / served * 1e6,
        "rows_used": len(current.frame),
        "item_bytes": size,
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss_before,
    }


# ---- the lake, written directly to a moto server ------------------------------------------------------

_FEATURES: Any = None


def _feature_names() -> list[str]:
    from creditwatch_analytics.lake.schema import feature_schema

    return feature_schema().names


def _reference_table() -> Any:
    """The reference sample's features as a lake-typed Arrow table (rows are drawn from it)."""
    global _FEATURES
    if _FEATURES is None:
        import pandas as pd
        import pyarrow as pa

        from creditwatch_analytics.lake.schema import LakeSchema, feature_schema
        from creditwatch_model import REFERENCE_FILE, model_dir

        schema = feature_schema()
        lake = LakeSchema.of(schema.features)
        ref = pd.read_csv(
            model_dir() / REFERENCE_FILE, dtype={f.name: str for f in schema.features if f.is_categorical}
        )
        arrow = lake.arrow
        _FEATURES = pa.table({n: pa.array(ref[n].tolist(), type=arrow.field(n).type) for n in lake.feature_names})
    return _FEATURES


def _hour_table(hour: datetime, n: int, seed: int) -> Any:
    """n records of one hour in the lake's schema: UUIDv7 ids of their millisecond, reference features."""
    import numpy as np
    import pyarrow as pa

    from creditwatch_analytics.lake.schema import SCHEMA_VERSION, LakeSchema, feature_schema

    rng = np.random.default_rng(seed)
    lake = LakeSchema.of(feature_schema().features)
    ref = _reference_table()
    base = int(hour.timestamp() * 1000)
    ms = np.sort(base + rng.integers(0, 3_600_000, n))
    rand_a = rng.integers(0, 1 << 12, n)
    rand_b = rng.integers(0, 1 << 62, n, dtype=np.int64)
    ids = [
        f"{m >> 16:08x}-{m & 0xFFFF:04x}-7{a:03x}-{0x8000 | ((b >> 48) & 0x3FFF):04x}-{b & 0xFFFFFFFFFFFF:012x}"
        for m, a, b in zip(ms.tolist(), rand_a.tolist(), rand_b.tolist(), strict=True)
    ]
    p = rng.random(n)
    approve = p >= 0.5
    from creditwatch_analytics.sampling import sample_mask

    cols: dict[str, Any] = {
        "prediction_id": ids,
        "ts": pa.array(ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "sample_key": (rand_b & 0xFFFFFFFFFFFF) ^ sample_mask(0),
        "request_id": ids,
        "kind": ["request"] * n,
        "route": ["/predict"] * n,
        "method": ["POST"] * n,
        "status": np.full(n, 200, dtype=np.int16),
        "latency_ms": rng.gamma(2.0, 2.0, n),
        "model_version": ["bench"] * n,
        "schema_version": np.full(n, SCHEMA_VERSION, dtype=np.int16),
        "error_class": pa.nulls(n, pa.string()),
        "batch_size": pa.nulls(n, pa.int32()),
        "batch_index": pa.nulls(n, pa.int32()),
        "probability_good_credit": p,
        "prediction": approve.astype(np.int8),
        "decision": np.where(approve, "approve", "refuse").tolist(),
        "risk_level": np.where(approve, "low", "high").tolist(),
    }
    # No challenger set and nothing referred: the shadow columns, the referral and the first reason are null.
    for name in (
        "first_reason",
        "referral",
        "challenger_version",
        "challenger_probability_good_credit",
        "challenger_decision",
    ):
        cols[name] = pa.nulls(n, lake.arrow.field(name).type)
    cols["challenger_first_reason"] = pa.nulls(n, pa.string())
    feats = ref.take(pa.array(rng.integers(0, len(ref), n)))
    for name in lake.feature_names:
        cols[name] = feats.column(name)
    # As the export writes an hour: sorted by sample key.
    return pa.table(cols, schema=lake.arrow).sort_by([("sample_key", "ascending"), ("prediction_id", "ascending")])


def write_lake(endpoint: str, bucket: str, days: int) -> float:
    """Write `days` days of hourly Parquet objects directly; returns the MB written."""

    from creditwatch.local.stack import boto_client
    from creditwatch_analytics.lake.export import hour_key, parquet_bytes

    s3 = boto_client("s3", endpoint)
    with_bucket = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in with_bucket:
        s3.create_bucket(Bucket=bucket)
    total = 0
    for h in range(days * 24):
        hour = DAY0 + timedelta(hours=h)
        body = parquet_bytes(_hour_table(hour, PER_HOUR, seed=h))  # as the export writes an hour
        s3.put_object(Bucket=bucket, Key=hour_key("predictions", hour), Body=body)
        total += len(body)
    return total / 2**20


def lake_child(endpoint: str, bucket: str, days: int) -> dict[str, float]:
    """Time the lake path over a window of `days` days."""
    import boto3

    # What a warm function has imported already (its cold start pays these once, not per window; sqlglot
    # imports each dialect on its first use).
    import duckdb  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sqlglot.dialects.duckdb
    import sqlglot.dialects.trino  # noqa: F401

    from creditwatch.local.stack import boto_client
    from creditwatch_analytics.lake.window import LakeWindow, s3_filesystem
    from creditwatch_common.heap import settle_heap
    from creditwatch_drift.analysis import sample_frame
    from creditwatch_model import load_model

    model = load_model()
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    lake = LakeWindow(
        filesystem=lambda: s3_filesystem(session, endpoint),
        s3=boto_client("s3", endpoint),
        bucket=bucket,
        feature_names=model.schema.names,
    )
    spec = _count_spec()
    assert lake.fs is not None  # the S3 filesystem built, as the dynamodb path's client is
    settle_heap()
    rss_before = _rss_mb()
    t = time.perf_counter()
    sample = lake.scored_sample(DAY0, DAY0 + timedelta(days=days), MAX_ROWS, 0, spec)
    # As the drift job does: the lake's sample goes to the frame column-wise.
    current = sample_frame(sample.table, sample.rows_read, sample.model_versions, model, MAX_ROWS)
    seconds = time.perf_counter() - t
    assert sample.counts is not None and sample.rows_read == days * 24 * PER_HOUR == sample.counts.rows
    return {
        "records": sample.rows_read,
        "seconds": seconds,
        "us_per_record": seconds / sample.rows_read * 1e6,
        "rows_used": len(current.frame),
        "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss_before,
    }


# ---- the crossover: where `auto` hands a lake window to Athena --------------------------------------------

# Athena cannot run here: its time is modelled from documented and commonly reported figures, stated:
ATHENA_QUERIES = 3  # versions, counts, sample (creditwatch_analytics.lake.athena.AthenaWindow)
ATHENA_OVERHEAD_S = 1.5  # per query: queueing and planning, ~1-2 s on an idle account
ATHENA_SCAN_MB_S = 1000.0  # MB of Parquet a query scans per second (distributed; ~1 GB/s is typical)
ATHENA_PAGE_S = 0.15  # one GetQueryResults round trip of up to 1,000 rows
FUNCTION_MEMORY_MB = 2048  # DriftFunction's MemorySize in template.yaml
READ_BUDGET_S = 480.0  # of its 600 s timeout, what the window read may take (creditwatch_drift.app)


def athena_seconds(records: float, mb_per_record: float) -> float:
    """Modelled Athena time of the drift job's three queries over a window of `records` records."""
    pages = -(-MAX_ROWS // 1000)
    return ATHENA_QUERIES * ATHENA_OVERHEAD_S + 2 * records * mb_per_record / ATHENA_SCAN_MB_S + pages * ATHENA_PAGE_S


def crossover(
    day: dict[str, float], days3: dict[str, float], week: dict[str, float], mb_per_record: float
) -> dict[str, float]:
    """Records where the in-function lake engine stops winning.

    Its time is a line through the day and the week; its peak memory a line through three days and
    the week (the objects wait on local disk, not in memory: DuckDB's scans set the peak). The crossover is
    the smallest of: its time equals Athena's modelled time, its time reaches the read budget, its
    memory reaches the function's (never, when the two peaks are level: memory bounded, not the window's).
    """
    n1, n2 = day["records"], week["records"]
    slope = (week["seconds"] - day["seconds"]) / (n2 - n1)
    base = day["seconds"] - slope * n1
    m1 = days3["records"]
    mem_slope = max((week["peak_rss_mb"] - days3["peak_rss_mb"]) / (n2 - m1), 0.0)
    mem_base = days3["peak_rss_mb"] - mem_slope * m1
    # Lake time = base + slope*n; Athena = fixed + per*n: equal where n = (fixed - base) / (slope - per).
    fixed = athena_seconds(0, mb_per_record)
    per = athena_seconds(1, mb_per_record) - fixed
    equal = (fixed - base) / (slope - per) if slope > per else float("inf")
    by_time = (READ_BUDGET_S - base) / slope if slope > 0 else float("inf")
    # Level peaks within the noise of RSS (10 MB over the four days between): memory does not grow.
    by_memory = (FUNCTION_MEMORY_MB - mem_base) / mem_slope if mem_slope * (n2 - m1) > 10 else float("inf")
    return {"equal_time": equal, "read_budget": by_time, "memory": by_memory, "athena_fixed_s": fixed}


# ---- the run -----------------------------------------------------------------------------------------


def _child(*args: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _line(name: str, runs: list[dict[str, float]]) -> str:
    return (
        f"  {name:<32} {int(_median(runs, 'records')):>11,} {_median(runs, 'seconds'):>9.2f} s "
        f"{_median(runs, 'us_per_record'):>9.3f} µs {_median(runs, 'peak_rss_mb'):>9.0f} MB   (n={len(runs)})"
    )


def main() -> None:
    """Write the lake, run each path in fresh interpreters, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dynamodb-records", type=int, default=1_440_000, help="dynamodb path window size")
    parser.add_argument("--no-week", action="store_true", help="skip the 10 M-record week")
    parser.add_argument("--quick", action="store_true", help="one run each, a quarter-day dynamodb window, no week")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        out = dynamodb_child(int(rest[0])) if kind == "dynamodb" else lake_child(rest[0], rest[1], int(rest[2]))
        print(json.dumps(out))
        return
    if args.quick:
        args.repeats, args.dynamodb_records, args.no_week = 1, 360_000, True
    days = 1 if args.no_week else 7
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
        day_mb = write_lake(endpoint, "bench-day", 1)
        print(f"wrote a day: 24 objects, {24 * PER_HOUR:,} records, {day_mb:.1f} MB ({time.perf_counter() - t:.0f} s)")
        week_mb = 0.0
        if days == 7:
            t = time.perf_counter()
            week_mb = write_lake(endpoint, "bench-week", 7)
            took = time.perf_counter() - t
            print(f"wrote a week: 168 objects, {168 * PER_HOUR:,} records, {week_mb:.1f} MB ({took:.0f} s)")
        dyn = [_child("dynamodb", str(args.dynamodb_records)) for _ in range(args.repeats)]
        lake_day = [_child("lake", endpoint, "bench-day", "1") for _ in range(args.repeats)]
        lake_week = [_child("lake", endpoint, "bench-week", "7") for _ in range(args.repeats)] if days == 7 else []
        lake_3d = [_child("lake", endpoint, "bench-week", "3") for _ in range(args.repeats)] if days == 7 else []
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"\nwindow read + bottom-k sample of {MAX_ROWS:,} + frame, medians ({os.cpu_count()} cores)")
    print(f"  {'path':<32} {'records':>11} {'time':>11} {'per record':>12} {'peak RSS':>12}")
    print(_line(f"dynamodb (instant 1 MB pages, {dyn[0]['item_bytes']:.0f} B/item)", dyn))
    print(_line("lake, a day (S3 objects + DuckDB)", lake_day))
    if lake_week:
        print(_line("lake, three days", lake_3d))
        print(_line("lake, a week", lake_week))
    ratio = _median(dyn, "us_per_record") / _median(lake_day, "us_per_record")
    print(f"\nratio dynamodb / lake per record (a day): {ratio:.0f}x (goal: >= 50x)")
    if lake_week:
        print(
            f"a week through the lake: {_median(lake_week, 'seconds'):.1f} s, "
            f"{_median(lake_week, 'peak_rss_mb'):.0f} MB peak (goal: under 60 s and 2 GB)"
        )
        mb_per_record = week_mb / (168 * PER_HOUR)
        med = {k: _median(lake_week, k) for k in ("records", "seconds", "peak_rss_mb")}
        med_day = {k: _median(lake_day, k) for k in ("records", "seconds", "peak_rss_mb")}
        med_3d = {k: _median(lake_3d, k) for k in ("records", "seconds", "peak_rss_mb")}
        cross = crossover(med_day, med_3d, med, mb_per_record)
        n = min(cross["equal_time"], cross["read_budget"], cross["memory"])
        print(
            f"\nauto -> athena crossover (Athena modelled: {ATHENA_QUERIES} queries x {ATHENA_OVERHEAD_S} s queue and "
            f"planning, {ATHENA_SCAN_MB_S:.0f} MB/s scan, {ATHENA_PAGE_S} s a result page; "
            f"{cross['athena_fixed_s']:.1f} s fixed; {mb_per_record * 1e6:.0f} B/record of Parquet)"
        )
        print(
            f"  lake time = Athena time at {cross['equal_time'] / 1e6:,.0f} M records; lake reaches the "
            f"{READ_BUDGET_S:.0f} s read budget at {cross['read_budget'] / 1e6:,.0f} M, "
            + (
                f"{FUNCTION_MEMORY_MB} MB at {cross['memory'] / 1e6:,.0f} M"
                if cross["memory"] != float("inf")
                else f"{FUNCTION_MEMORY_MB} MB never (peak level from three days to a week: the window waits on disk)"
            )
        )
        print(
            f"  crossover: {n / 1e6:,.0f} M records (~{n / (PER_HOUR * 24):,.0f} days at 1,000 requests a minute): "
            "AnalyticsAthenaAboveRows"
        )


if __name__ == "__main__":
    main()
