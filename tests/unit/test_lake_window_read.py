"""The lake engine's read of a window: whole objects in a local folder, DuckDB over them, against pandas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pytest
from faults import threaded_moto

from creditwatch.local.stack import boto_client
from creditwatch_analytics.lake.export import hour_key, parquet_bytes
from creditwatch_analytics.lake.schema import LakeError, LakeSchema
from creditwatch_analytics.lake.sql import counts_from_frame
from creditwatch_analytics.lake.window import LakeWindow, duckdb_connection, s3_filesystem
from creditwatch_analytics.sampling import sample_key, sample_mask

START = datetime(2026, 11, 2, tzinfo=UTC)
BUCKET = "lake-read-test"
ROWS_PER_HOUR = 20_000  # row groups of 1,000, 2,000, 4,000, 8,000 and 5,000: DuckDB's threads share each file


pytestmark = pytest.mark.server  # the lake on a moto server of its own


@pytest.fixture(scope="module")
def lake(model: Any) -> Iterator[tuple[LakeWindow, pa.Table]]:
    """Three hours written to a moto server as the export writes them; the lake window and every row."""
    import boto3

    with threaded_moto() as endpoint:
        s3 = boto_client("s3", endpoint)
        s3.create_bucket(Bucket=BUCKET)
        schema = LakeSchema.of(model.schema.features)
        tables = []
        for h in range(3):
            table = _hour(schema, model, START + timedelta(hours=h), seed=h)
            s3.put_object(
                Bucket=BUCKET, Key=hour_key("predictions", START + timedelta(hours=h)), Body=parquet_bytes(table)
            )
            tables.append(table)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        window = LakeWindow(
            filesystem=lambda: s3_filesystem(session, endpoint), s3=s3, bucket=BUCKET, feature_names=model.schema.names
        )
        yield window, pa.concat_tables(tables)


def _hour(schema: LakeSchema, model: Any, hour: datetime, seed: int) -> pa.Table:
    """An hour of records in the lake's schema: UUIDv7 ids of the hour, varied features, 5% unscored."""
    rng = np.random.default_rng(seed)
    n = ROWS_PER_HOUR
    base = int(hour.timestamp() * 1000)
    ms = np.sort(base + rng.integers(0, 3_600_000, n))
    tail = rng.integers(0, 1 << 48, n, dtype=np.int64)
    ids = [
        f"{m >> 16:08x}-{m & 0xFFFF:04x}-7abc-8def-{t:012x}" for m, t in zip(ms.tolist(), tail.tolist(), strict=True)
    ]
    p = rng.random(n)
    scored = rng.random(n) >= 0.05
    records = []
    for i in range(n):
        feats: dict[str, Any] = {}
        for f in model.schema.features:
            if f.is_categorical:
                codes = sorted(f.codes)
                feats[f.name] = codes[int(rng.integers(0, len(codes)))]
            elif f.dtype == "int":
                feats[f.name] = int(rng.integers(1, 80))
            else:
                feats[f.name] = float(rng.integers(250, 20_000))
        records.append(
            {
                "prediction_id": ids[i],
                "ts": datetime.fromtimestamp(ms[i] / 1000, UTC).isoformat(),
                "request_id": ids[i],
                "kind": "request",
                "route": "/predict",
                "method": "POST",
                "status": 200 if scored[i] else 422,
                "latency_ms": 3.0,
                "model_version": "v1" if i % 3 else "v2",
                "probability_good_credit": float(p[i]) if scored[i] else None,
                "prediction": int(p[i] >= 0.5) if scored[i] else None,
                "decision": ("approve" if p[i] >= 0.5 else "refuse") if scored[i] else None,
                "risk_level": "low",
                "features": feats if scored[i] else None,
            }
        )
    table = schema.table(records)
    return table.sort_by([("sample_key", "ascending"), ("prediction_id", "ascending")])


def _expected(rows: pa.Table, spec: Any, k: int, seed: int) -> tuple[Any, list[str], dict[str, int]]:
    """pandas over every row: the counts of the scored ones, the k ids of smallest key, rows per version."""
    frame = rows.to_pandas()
    scored = frame[frame["probability_good_credit"].notna()]
    mask = sample_mask(seed)
    keys = sorted((sample_key(pid, mask), pid) for pid in scored["prediction_id"])
    versions = {str(v): int(n) for v, n in scored["model_version"].value_counts().items()}
    return counts_from_frame(scored, spec), [pid for _, pid in keys[:k]], versions


@pytest.mark.parametrize("in_memory", [256 << 20, 0], ids=["objects in memory", "objects in a local folder"])
@pytest.mark.parametrize("seed", [0, 7], ids=["the stored key", "the stored key mixed with another seed"])
def test_the_lake_reads_the_same_counts_and_sample_as_pandas_on_the_same_rows(
    lake: Any, model: Any, drift_counts: Any, seed: int, in_memory: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import creditwatch_analytics.lake.read as read_mod

    # A read over IN_MEMORY_BYTES waits on local disk instead: the same answers either way.
    monkeypatch.setattr(read_mod, "IN_MEMORY_BYTES", in_memory)
    window, rows = lake
    spec = drift_counts
    k = 2_500
    want_counts, want_ids, want_versions = _expected(rows, spec, k, seed)
    got = window.scored_sample(START, START + timedelta(hours=3), k, seed, spec)
    assert got.rows_read == want_counts.rows == sum(want_versions.values()) > 50_000
    assert got.model_versions == want_versions
    assert got.counts is not None and got.counts.bins == want_counts.bins
    for attribute, groups in want_counts.groups.items():
        for name, g in groups.items():
            mine = got.counts.groups[attribute][name]
            assert (mine.rows, mine.approved) == (g.rows, g.approved)
            assert mine.probability_sum == pytest.approx(g.probability_sum, rel=1e-12)
    assert [r.prediction_id for r in got.rows] == want_ids
    by_id = {r["prediction_id"]: r for r in rows.to_pylist()}
    for r in got.rows[:200]:
        source = by_id[r.prediction_id]
        assert r.probability_good_credit == source["probability_good_credit"]
        assert r.features == {n: source[n] for n in model.schema.names if source[n] is not None}


def test_a_window_cut_mid_hour_reads_only_its_records(lake: Any, drift_counts: Any) -> None:
    window, rows = lake
    start, end = START + timedelta(minutes=30), START + timedelta(hours=2, minutes=10)
    frame = rows.to_pandas()
    ts = frame["ts"].dt.tz_convert("UTC")
    inside = frame[(ts >= start) & (ts < end) & frame["probability_good_credit"].notna()]
    got = window.scored_sample(start, end, 100, 0, drift_counts)
    assert got.rows_read == len(inside) and got.counts is not None and got.counts.rows == len(inside)
    assert {r.prediction_id for r in got.rows} <= set(inside["prediction_id"])


def test_a_window_with_no_object_is_empty_not_an_error(lake: Any, drift_counts: Any) -> None:
    window, _ = lake
    got = window.scored_sample(START - timedelta(days=3), START - timedelta(days=2), 100, 0, drift_counts)
    assert (got.rows_read, got.rows, got.model_versions) == (0, [], {})
    assert got.counts is not None and got.counts.rows == 0


def test_the_lake_connection_never_installs_or_loads_an_extension_by_itself() -> None:
    import duckdb

    con = duckdb_connection()
    settings = con.execute(
        "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
    ).fetchone()
    assert settings == (False, False)
    # An https URL needs the httpfs extension: refused at once, nothing downloaded.
    with pytest.raises(duckdb.Error, match="httpfs"):
        con.execute("SELECT * FROM read_parquet('https://127.0.0.1:9/x.parquet')")


def test_an_outcomes_object_that_is_not_parquet_fails_a_lake_query_with_its_key(lake: Any) -> None:
    window, _ = lake
    key = "outcomes/dt=2026-11-02/hour=05/part-0.parquet"
    window.s3.put_object(Bucket=BUCKET, Key=key, Body=b"not parquet at all")
    try:
        with pytest.raises(LakeError, match=key):
            window.query("SELECT count(*) FROM outcomes")
    finally:
        window.s3.delete_object(Bucket=BUCKET, Key=key)


def test_the_quality_cohort_reads_no_outcome_recorded_before_its_predictions(lake: Any) -> None:
    window, rows = lake
    before = "outcomes/dt=2026-11-01/hour=05/part-0.parquet"  # recorded before the cohort: never read
    after = "outcomes/dt=2026-11-02/hour=01/part-0.parquet"  # recorded within it: read, and refused
    window.s3.put_object(Bucket=BUCKET, Key=before, Body=b"not parquet at all")
    try:
        frame = window.labelled(START, START + timedelta(hours=3))
        assert frame.rows == rows.filter(pa.compute.is_valid(rows["probability_good_credit"])).num_rows
        window.s3.put_object(Bucket=BUCKET, Key=after, Body=b"not parquet at all")
        with pytest.raises(LakeError, match=after):
            window.labelled(START, START + timedelta(hours=3))
    finally:
        window.s3.delete_object(Bucket=BUCKET, Key=before)
        window.s3.delete_object(Bucket=BUCKET, Key=after)
