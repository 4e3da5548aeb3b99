"""The lake: the hourly export's guarantees, its schema, bad objects, and one window read by every engine."""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TEST_PARAMETERS
from faults import threaded_moto

from creditwatch.local.resources import create_resources
from creditwatch.local.stack import boto_client
from creditwatch.local.template import Template
from creditwatch_analytics.lake.backfill import backfill, is_simulated
from creditwatch_analytics.lake.export import LakeExporter, RewriteRefused, hour_floor, hour_key
from creditwatch_analytics.lake.outcomes import OUTCOME_SCHEMA
from creditwatch_analytics.lake.schema import SCHEMA_VERSION_KEY, LakeError, LakeSchema
from creditwatch_analytics.lake.window import AutoWindow, DynamoWindow, LakeWindow, s3_filesystem
from creditwatch_common.ids import uuid7
from creditwatch_common.log import PredictionLog
from creditwatch_common.log.items import to_item
from creditwatch_common.log.outcomes import OutcomeInput, OutcomeWriter
from creditwatch_common.log.pending import PENDING_PK, PendingHour, PendingHours
from creditwatch_common.outcomes import LabelledRow
from creditwatch_common.records import LogRecord

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One moto server for the module (boto3 and pyarrow's S3 both reach it); each test resets it."""
    with threaded_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def stack(server: str) -> Any:
    """The template's resources on the moto server, once for the module."""
    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST"), timeout=10)
    template = Template(endpoint=server, overrides=TEST_PARAMETERS)
    create_resources(template, lambda s: boto_client(s, server), webhook_url="http://127.0.0.1:9/never")
    return template


def empty(stack: Template, server: str) -> None:
    """Each test starts with an empty table and an empty lake (cheaper than new resources)."""
    ddb, s3 = boto_client("dynamodb", server), boto_client("s3", server)
    table, bucket = stack.ref("PredictionsTable"), stack.ref("LakeBucket")
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        items = page["Items"]
        for i in range(0, len(items), 25):
            batch = [{"DeleteRequest": {"Key": key}} for key in items[i : i + 25]]
            ddb.batch_write_item(RequestItems={table: batch})
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])


@pytest.fixture
def parts(stack: Template, server: str, model: Any) -> Any:
    """The log, the exporter and the lake window of the local stack."""
    from types import SimpleNamespace

    import boto3

    empty(stack, server)
    s3 = boto_client("s3", server)
    log = PredictionLog(
        dynamodb=boto_client("dynamodb", server),
        table=stack.ref("PredictionsTable"),
        shards=int(stack.parameters["LogShards"]),
        sqs=boto_client("sqs", server),
        spill_queue_url=stack.ref("SpillQueue"),
        sleep=lambda _s: None,
    )
    bucket = stack.ref("LakeBucket")
    exporter = LakeExporter(reader=log, s3=s3, bucket=bucket, schema=LakeSchema.of(model.schema.features))
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    lake = LakeWindow(
        filesystem=lambda: s3_filesystem(session, server), s3=s3, bucket=bucket, feature_names=model.schema.names
    )
    return SimpleNamespace(log=log, exporter=exporter, lake=lake, s3=s3, bucket=bucket, dynamo=DynamoWindow(log))


def application(model: Any, i: int) -> dict[str, Any]:
    """A valid application, varied by i."""
    feats: dict[str, Any] = {}
    for f in model.schema.features:
        if f.is_categorical:
            codes = sorted(f.codes)
            feats[f.name] = codes[i % len(codes)]
        elif f.dtype == "int":
            feats[f.name] = 1 + i % 7
        else:
            feats[f.name] = 1000.0 + 37.5 * i
    return feats


def records_at(model: Any, at: datetime, n: int, **extra: Any) -> list[LogRecord]:
    """n scored records at one time (their ids carry it)."""
    ms = int(at.timestamp() * 1000)
    out = []
    for i in range(n):
        p = (i % 10) / 10 + 0.05
        fields: dict[str, Any] = {
            "prediction_id": uuid7(ms + i),
            "request_id": uuid7(ms + i),
            "route": "/predict",
            "status": 200,
            "latency_ms": 3.5,
            "model_version": model.version,
            "features": application(model, i),
            "probability_good_credit": p,
            "prediction": int(p >= 0.5),
            "decision": "approve" if p >= 0.5 else "refuse",
            "risk_level": "low",
        }
        fields.update(extra)
        out.append(LogRecord(**fields))
    return out


def lake_ids(s3: Any, bucket: str) -> list[str]:
    """Every prediction id in the lake's hour objects (duplicates kept)."""
    ids: list[str] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="predictions/dt=").get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        ids += pq.read_table(io.BytesIO(body)).column("prediction_id").to_pylist()
    return ids


def objects(s3: Any, bucket: str) -> dict[str, bytes]:
    """Key -> bytes of every hour object."""
    out = {}
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix="predictions/dt=").get("Contents", []):
        out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


# ---- the export -----------------------------------------------------------------------------------


def test_exporting_twice_rewrites_the_same_objects_with_the_same_rows(parts, model):
    for hours_ago in (0, 1, 2):
        parts.log.write(records_at(model, NOW - timedelta(hours=hours_ago), 30))
    first = parts.exporter.export(3, NOW)
    before = objects(parts.s3, parts.bucket)
    second = parts.exporter.export(3, NOW)
    after = objects(parts.s3, parts.bucket)
    assert first.rows == second.rows == 90
    assert (
        sorted(before)
        == sorted(after)
        == [
            "predictions/dt=2026-11-20/hour=12/part-0.parquet",
            "predictions/dt=2026-11-20/hour=13/part-0.parquet",
            "predictions/dt=2026-11-20/hour=14/part-0.parquet",
        ]
    )
    assert before == after  # byte for byte: the rows are sorted, whatever order the reader saw
    ids = lake_ids(parts.s3, parts.bucket)
    assert len(ids) == len(set(ids)) == 90


def test_a_late_record_reaches_the_lake_with_the_next_export_of_its_hour(parts, model):
    parts.log.write(records_at(model, NOW - timedelta(hours=1), 5))
    parts.exporter.export(3, NOW)
    # A spill replay, an hour later: the record keeps its own (old) time, the hour's object is done.
    (late,) = records_at(model, NOW - timedelta(hours=1, minutes=10), 1)
    parts.log.write([late])
    assert late.prediction_id not in lake_ids(parts.s3, parts.bucket)
    parts.exporter.export(3, NOW + timedelta(hours=1))
    ids = lake_ids(parts.s3, parts.bucket)
    assert late.prediction_id in ids and len(ids) == len(set(ids)) == 6


def test_every_record_of_the_table_is_in_the_lake_after_an_export_of_its_hours(parts, model):
    written = []
    for minutes in (0, 15, 61, 119, 150):
        batch = records_at(model, NOW - timedelta(minutes=minutes), 7)
        written += [r.prediction_id for r in batch]
        parts.log.write(batch)
    # A rejected request, with what it sent: its body and error text stay in the table only.
    (bad,) = records_at(
        model, NOW, 1, status=422, raw_body='{"name": "Ada"}', error_class="ValidationError", error_detail="no"
    )
    parts.log.write([bad.model_copy(update={"probability_good_credit": None, "decision": None})])
    result = parts.exporter.export(3, NOW)
    assert result.rows == len(written) + 1
    assert sorted(lake_ids(parts.s3, parts.bucket)) == sorted([*written, bad.prediction_id])
    assert result.watermark.complete_through == datetime(2026, 11, 20, 14, tzinfo=UTC)


def test_lake_rows_have_typed_features_versions_and_no_request_body_or_error_text(parts, model):
    (bad,) = records_at(model, NOW, 1, status=422, raw_body="secret", error_class="ValidationError", error_detail="x")
    parts.log.write([*records_at(model, NOW, 3), bad])
    parts.exporter.export(1, NOW)
    (body,) = objects(parts.s3, parts.bucket).values()
    table = pq.read_table(io.BytesIO(body))
    assert "raw_body" not in table.column_names and "error_detail" not in table.column_names
    assert b"secret" not in body
    assert set(table.column("schema_version").to_pylist()) == {1}
    assert set(table.column("model_version").to_pylist()) == {model.version}
    types = {f.name: f.type for f in table.schema}
    for f in model.schema.features:
        expected = {"int": pa.int64(), "float": pa.float64(), "category": pa.string()}[f.dtype]
        assert types[f.name] == expected, f.name
    assert types["ts"] == pa.timestamp("ms", tz="UTC")
    assert table.schema.metadata[SCHEMA_VERSION_KEY] == b"1"


def test_hours_without_records_write_nothing_and_keys_name_the_utc_hour(parts, model):
    result = parts.exporter.export(2, NOW)
    assert result.rows == 0 and objects(parts.s3, parts.bucket) == {}
    assert hour_key("predictions", datetime(2026, 1, 2, 3, 59, tzinfo=UTC)) == (
        "predictions/dt=2026-01-02/hour=03/part-0.parquet"
    )


def test_the_watermark_spans_consecutive_runs_and_restarts_after_a_gap(parts):
    a = parts.exporter.export(3, NOW).watermark
    assert (a.first_hour, a.complete_through) == (NOW.replace(minute=0) - timedelta(hours=2), NOW.replace(minute=0))
    b = parts.exporter.export(3, NOW + timedelta(hours=1)).watermark
    assert (b.first_hour, b.complete_through) == (a.first_hour, a.complete_through + timedelta(hours=1))
    c = parts.exporter.export(3, NOW + timedelta(hours=10)).watermark
    assert c.first_hour == NOW.replace(minute=0) + timedelta(hours=8)


# ---- bad objects ------------------------------------------------------------------------------------


def test_an_object_that_is_not_parquet_fails_the_read_with_its_key(parts, model):
    parts.log.write(records_at(model, NOW, 3))
    parts.exporter.export(1, NOW)
    key = "predictions/dt=2026-11-20/hour=14/part-1.parquet"
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=b"not parquet at all")
    with pytest.raises(LakeError, match=key):
        parts.lake.scored_sample(NOW - timedelta(hours=1), NOW + timedelta(hours=1), 100)


def test_an_object_of_an_unknown_schema_version_fails_the_read_with_its_key(parts, model):
    parts.log.write(records_at(model, NOW, 3))
    parts.exporter.export(1, NOW)
    key = hour_key("predictions", NOW)
    table = pq.read_table(io.BytesIO(parts.s3.get_object(Bucket=parts.bucket, Key=key)["Body"].read()))
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({SCHEMA_VERSION_KEY: b"99"}), buf)
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=buf.getvalue())
    with pytest.raises(LakeError, match=f"{key}.*version 99"):
        parts.lake.scored_sample(NOW - timedelta(hours=1), NOW + timedelta(hours=1), 100)


# ---- one window, every engine ----------------------------------------------------------------------


WINDOWS = [
    ((-4.5, 0), 7, 100),  # cut mid-hour, another seed: SQL computes the keys from the ids
    ((-4.5, 0), 0, 100),  # cut mid-hour: the stored keys, SQL for the counts
    ((-4, 1), 0, 100),  # whole hours: the counts and the key bound from the footers' statistics
    ((-4, 1), 0, 1000),  # fewer records than the sample: all of them
]


def test_both_engines_pick_the_same_sample_and_count_of_a_window(parts, model):
    for hours_ago in range(5):
        at = NOW - timedelta(hours=hours_ago, minutes=5)
        parts.log.write(records_at(model, at, 77))
        # Three referred to a reviewer: counted over the whole window, whichever engine.
        parts.log.write(records_at(model, at + timedelta(seconds=2), 3, referral=["band"], case_id=uuid7()))
        # Unscored records (rejected requests) in the same hours: neither engine counts them.
        parts.log.write(records_at(model, at + timedelta(seconds=1), 9, status=422, probability_good_credit=None))
    parts.exporter.export(6, NOW + timedelta(hours=1))
    hour = NOW.replace(minute=0)
    spec = count_spec(model)
    for hours, seed, k in WINDOWS:
        start, end = hour + timedelta(hours=hours[0]), hour + timedelta(hours=hours[1])
        a = parts.dynamo.scored_sample(start, end, k, seed=seed, counts=spec)
        b = parts.lake.scored_sample(start, end, k, seed=seed, counts=spec)
        assert a.rows_read == b.rows_read and a.model_versions == b.model_versions, (hours, seed, k)
        # The counts cover the whole window, not the sample, and are the same whichever engine.
        assert a.counts is not None and b.counts is not None
        assert a.counts.rows == b.counts.rows == a.rows_read
        assert a.counts.bins == b.counts.bins and _groups(a.counts) == _groups(b.counts), (hours, seed, k)
        assert a.rows_read == {(-4.5, 0): 320, (-4, 1): 400}[hours]
        assert a.counts.referred == b.counts.referred == {(-4.5, 0): 12, (-4, 1): 15}[hours]
        assert len(a.rows) == min(k, a.rows_read)
        assert [r.prediction_id for r in a.rows] == [r.prediction_id for r in b.rows], (hours, seed, k)
        assert [r.features for r in a.rows] == [r.features for r in b.rows]
        assert [(r.probability_good_credit, r.decision) for r in a.rows] == [
            (r.probability_good_credit, r.decision) for r in b.rows
        ]


def count_spec(model: Any) -> Any:
    """The drift job's counts: the shipped PSI bins and the protected groups."""
    from creditwatch_analytics.groups import group_specs
    from creditwatch_analytics.lake.sql import CountSpec
    from creditwatch_drift.stability import bin_specs, load_stability_bins

    bins = load_stability_bins()
    assert bins is not None
    return CountSpec(bin_specs(bins, model), group_specs((25,)))


def _groups(counts: Any) -> dict[str, Any]:
    """Group counts with the P(good) sums rounded (summation order differs between engines)."""
    return {
        a: {n: (g.rows, g.approved, round(g.probability_sum, 9)) for n, g in gs.items()}
        for a, gs in counts.groups.items()
    }


def test_auto_reads_the_completed_hours_from_the_lake_and_the_rest_from_the_table(parts, model):
    for hours_ago in range(4):
        parts.log.write(records_at(model, NOW - timedelta(hours=hours_ago), 40))
    parts.exporter.export(4, NOW)  # hours 11-13 complete; 14 is the current one
    parts.log.write(records_at(model, NOW + timedelta(minutes=20), 10))  # after the export
    auto = AutoWindow(parts.dynamo, parts.lake)
    start, end = NOW.replace(minute=0) - timedelta(hours=3), NOW.replace(minute=0) + timedelta(hours=1)
    spec = count_spec(model)
    got = auto.scored_sample(start, end, 60, seed=3, counts=spec)
    want = parts.dynamo.scored_sample(start, end, 60, seed=3, counts=spec)
    assert got.engine == "lake+dynamodb" and got.engine_rows == {"lake": 120, "dynamodb": 50}
    assert [r.prediction_id for r in got.rows] == [r.prediction_id for r in want.rows]
    # The two parts' counts add up to the table's over the whole window.
    assert got.counts is not None and want.counts is not None and got.counts.rows == want.counts.rows == 170
    assert got.counts.bins == want.counts.bins and _groups(got.counts) == _groups(want.counts)
    # Before the lake's first hour: the table alone.
    early = auto.scored_sample(start - timedelta(hours=5), end, 60, seed=3)
    assert early.engine == "dynamodb" and early.rows_read == 170


def test_a_new_model_versions_extra_column_reads_as_a_union_schema(parts, model):
    parts.log.write(records_at(model, NOW - timedelta(hours=1), 4))
    parts.exporter.export(2, NOW)
    key = hour_key("predictions", NOW)
    older = parts.s3.get_object(Bucket=parts.bucket, Key=hour_key("predictions", NOW - timedelta(hours=1)))
    table = pq.read_table(io.BytesIO(older["Body"].read()))
    # The next model's hour: one more feature column, its own ids.
    ids = [uuid7(int(NOW.timestamp() * 1000) + i) for i in range(len(table))]
    extra = table.append_column("new_feature", pa.array([1.5] * len(table))).set_column(
        0, "prediction_id", pa.array(ids)
    )
    buf = io.BytesIO()
    pq.write_table(extra.replace_schema_metadata(table.schema.metadata), buf)
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=buf.getvalue())
    _, rows = parts.lake.query("SELECT count(*), count(new_feature) FROM predictions")
    assert rows == [(8, 4)]


def test_sql_over_the_lake_answers_group_bys(parts, model):
    parts.log.write(records_at(model, NOW, 20))
    parts.exporter.export(1, NOW)
    names, rows = parts.lake.query("SELECT decision, count(*) AS n FROM predictions GROUP BY 1 ORDER BY 1")
    assert names == ["decision", "n"] and rows == [("approve", 10), ("refuse", 10)]
    assert json.loads(parts.s3.get_object(Bucket=parts.bucket, Key="predictions/_exported.json")["Body"].read())


def test_the_drift_job_gives_the_same_sample_and_verdict_whichever_engine_reads_the_window(parts, stack, server, model):
    from creditwatch.simulate import DriftShift, application_pool, generate
    from creditwatch_common.reports import Publisher
    from creditwatch_drift.models import DriftEvent
    from creditwatch_drift.service import DriftJob, load_reference
    from creditwatch_drift.settings import DriftSettings

    reference = load_reference(model)
    pool = application_pool(model, reference)
    apps = [json.loads(r.body) for r in generate(model, pool, {"drift": 300}, 4, DriftShift())]
    scores = model.score([{k: a.get(k) for k in model.schema.names} for a in apps])
    start_ms = int((NOW - timedelta(hours=3)).timestamp() * 1000)
    records = [
        LogRecord(
            prediction_id=uuid7(start_ms + i * 30_000),
            request_id=uuid7(start_ms + i * 30_000),
            route="/predict",
            status=200,
            latency_ms=2.0,
            model_version=model.version,
            features=app,
            probability_good_credit=s.probability_good_credit,
            decision="approve" if s.probability_good_credit >= model.threshold else "refuse",
        )
        for i, (app, s) in enumerate(zip(apps, scores, strict=True))
    ]
    parts.log.write(records)
    parts.exporter.export(4, NOW)
    settings = DriftSettings().model_copy(update={"max_rows": 120, "min_rows": 50})
    publisher = Publisher(s3=boto_client("s3", server), bucket=stack.ref("ReportsBucket"), signer=None)
    event = DriftEvent(start=NOW - timedelta(hours=3), end=NOW.replace(minute=0), notify=False)
    summaries = {}
    from creditwatch_drift.stability import load_stability_bins

    bins = load_stability_bins()
    engines = (("dynamodb", parts.dynamo), ("lake", parts.lake), ("auto", AutoWindow(parts.dynamo, parts.lake)))
    for name, window in engines:
        job = DriftJob(settings, model, reference, parts.log, publisher, window=window, stability_bins=bins)
        summaries[name] = job.run(event, now=NOW)
    a, b, c = summaries["dynamodb"], summaries["lake"], summaries["auto"]
    assert a.status == b.status == c.status == "ok" and (a.engine, b.engine, c.engine) == ("dynamodb", "lake", "lake")
    assert a.rows_read == b.rows_read == 300 and a.rows_used == b.rows_used == 120 and a.sampled
    assert a.dataset_drift == b.dataset_drift == c.dataset_drift and a.drift_share == b.drift_share
    assert [f.model_dump() for f in a.features] == [f.model_dump() for f in b.features]
    assert a.outputs == b.outputs == c.outputs
    # PSI and fairness count the whole window (300 records), not the 120 of the sample: same verdicts.
    assert a.stability is not None and a.fairness is not None
    assert a.stability == b.stability == c.stability
    assert a.fairness == b.fairness == c.fairness
    assert sum(g.count for g in a.fairness.attributes[2].current.groups) == 300


def test_a_drift_run_over_a_bad_lake_object_fails_with_its_key_named(parts, stack, server, model):
    from creditwatch_common.reports import Publisher
    from creditwatch_drift.models import DriftEvent
    from creditwatch_drift.service import DriftJob, load_reference
    from creditwatch_drift.settings import DriftSettings

    key = "predictions/dt=2026-11-20/hour=13/part-0.parquet"
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=b"PAR1 truncated")
    publisher = Publisher(s3=boto_client("s3", server), bucket=stack.ref("ReportsBucket"), signer=None)
    job = DriftJob(DriftSettings(), model, load_reference(model), parts.log, publisher, window=parts.lake)
    summary = job.run(DriftEvent(hours=3, notify=False), now=NOW)
    assert summary.status == "error" and summary.error == "lake_read_failed" and key in summary.message


def test_an_hour_is_sorted_by_sample_key_in_row_groups_that_double(parts, model):
    from creditwatch_analytics.lake.export import parquet_bytes

    parts.log.write(records_at(model, NOW, 50))
    parts.exporter.export(1, NOW)
    (body,) = objects(parts.s3, parts.bucket).values()
    keys = pq.read_table(io.BytesIO(body)).column("sample_key").to_pylist()
    assert keys == sorted(keys)
    table = pq.read_table(io.BytesIO(body))
    sizes = [pq.ParquetFile(io.BytesIO(parquet_bytes(table, 4))).metadata.row_group(i).num_rows for i in range(4)]
    assert sizes == [4, 8, 16, 22]


# ---- outcomes: exported by the hour they were recorded, joined to predictions by id ----------------


def record(parts: Any, at: datetime, outcomes: list[tuple[str, str]], correction: bool = False) -> list[str]:
    """Record outcomes (prediction id, value) as of `at` through the outcome writer; their statuses."""
    writer = OutcomeWriter(
        dynamodb=parts.log.dynamodb,
        table=parts.log.table,
        shards=parts.log.shards,
        now_ms=lambda: int(at.timestamp() * 1000),
        sleep=lambda _s: None,
    )
    results = writer.record([OutcomeInput(pid, value, at, correction) for pid, value in outcomes])  # type: ignore[arg-type]
    return [r.status for r in results]


def outcome_objects(parts: Any) -> dict[str, bytes]:
    listed = parts.s3.list_objects_v2(Bucket=parts.bucket, Prefix="outcomes/").get("Contents", [])
    return {o["Key"]: parts.s3.get_object(Bucket=parts.bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_an_outcome_for_a_three_month_old_prediction_lands_in_the_hour_it_was_recorded(parts, model):
    old = records_at(model, NOW - timedelta(days=92), 3)
    parts.log.write(old)
    recorded_at = NOW - timedelta(minutes=20)  # 14:10
    assert record(parts, recorded_at, [(old[0].prediction_id, "bad")]) == ["recorded"]
    result = parts.exporter.export(3, NOW)
    assert result.outcome_rows == 1
    (key,) = outcome_objects(parts)
    assert key == "outcomes/dt=2026-11-20/hour=14/part-0.parquet"
    assert [h.outcome_key for h in result.hours] == [None, None, key]
    table = pq.read_table(io.BytesIO(outcome_objects(parts)[key]))
    assert table.schema.remove_metadata() == OUTCOME_SCHEMA.remove_metadata()
    row = table.to_pylist()[0]
    assert row["prediction_id"] == old[0].prediction_id and row["outcome"] == "bad"
    assert row["recorded_at"] == recorded_at.replace(microsecond=0) and row["schema_version"] == 1
    assert row["correction"] is False and row["previous"] is None


def test_exporting_twice_writes_the_same_outcome_objects_byte_for_byte(parts, model):
    preds = records_at(model, NOW - timedelta(days=30), 40)
    parts.log.write(preds)
    record(parts, NOW - timedelta(hours=1, minutes=5), [(p.prediction_id, "good") for p in preds[:20]])
    record(parts, NOW - timedelta(minutes=5), [(p.prediction_id, "bad") for p in preds[20:]])
    first = parts.exporter.export(3, NOW)
    before = outcome_objects(parts)
    second = parts.exporter.export(3, NOW)
    assert first.outcome_rows == second.outcome_rows == 40
    assert outcome_objects(parts) == before and len(before) == 2
    ids = [
        pid for body in before.values() for pid in pq.read_table(io.BytesIO(body)).column("prediction_id").to_pylist()
    ]
    assert len(ids) == len(set(ids)) == 40


def test_a_correction_is_a_new_row_and_the_view_shows_the_latest(parts, model):
    (pred,) = records_at(model, NOW - timedelta(days=60), 1)
    parts.log.write([pred])
    record(parts, NOW - timedelta(hours=2), [(pred.prediction_id, "good")])
    assert record(parts, NOW - timedelta(minutes=30), [(pred.prediction_id, "bad")], correction=True) == ["corrected"]
    parts.exporter.export(3, NOW)
    parts.exporter.export_hour(datetime.fromtimestamp(pred.millis / 1000, UTC))
    _, events = parts.lake.query("SELECT outcome, correction, previous FROM outcome_events ORDER BY recorded_at")
    assert events == [("good", False, None), ("bad", True, "good")]
    _, latest = parts.lake.query("SELECT prediction_id, outcome FROM outcomes")
    assert latest == [(pred.prediction_id, "bad")]
    names, rows = parts.lake.query(
        "SELECT p.decision, o.outcome, count(*) FROM predictions p JOIN outcomes o USING (prediction_id) GROUP BY 1,2"
    )
    assert names == ["decision", "outcome", "count_star()"] and rows == [(pred.decision, "bad", 1)]


def test_the_labelled_frame_gives_a_cohort_by_prediction_time_with_its_latest_outcomes(parts, model):
    at = NOW - timedelta(days=90)
    preds = records_at(model, at, 10)
    parts.log.write(preds)
    parts.log.write(records_at(model, at + timedelta(days=1), 5))  # outside the cohort
    record(parts, NOW - timedelta(minutes=10), [(p.prediction_id, "bad") for p in preds[:6]])
    parts.exporter.export(1, NOW)
    parts.exporter.export_hour(at)
    parts.exporter.export_hour(at + timedelta(days=1))
    labelled = parts.lake.labelled(at - timedelta(hours=1), at + timedelta(hours=1))
    frame = labelled.table
    assert (labelled.rows, labelled.labelled_rows, labelled.bad_rows, labelled.sampled) == (10, 6, 6, False)
    assert isinstance(frame, pa.Table) and frame.num_rows == 10
    assert frame.column_names[:11] == [
        "prediction_id",
        "ts",
        "probability_good_credit",
        "prediction",
        "decision",
        "model_version",
        "challenger_version",
        "challenger_probability_good_credit",
        "challenger_decision",
        "outcome",
        "outcome_observed_at",
    ]
    assert set(model.schema.names) <= set(frame.column_names)
    by_id = {r["prediction_id"]: r["outcome"] for r in frame.to_pylist()}
    assert by_id == {p.prediction_id: ("bad" if i < 6 else None) for i, p in enumerate(preds)}
    # The same cohort as the table's reader sees it (labels from the prediction items).
    rows = parts.log.query_window(at - timedelta(hours=1), at + timedelta(hours=1), LabelledRow, scored_only=True)
    assert {r.prediction_id: r.outcome for r in rows} == by_id


def test_an_outcomes_object_of_an_unknown_schema_version_fails_the_read_with_its_key(parts, model):
    table = pa.table({"prediction_id": ["x"]}).replace_schema_metadata({SCHEMA_VERSION_KEY: b"99"})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    key = "outcomes/dt=2026-11-20/hour=09/part-0.parquet"
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=buf.getvalue())
    with pytest.raises(LakeError, match=key):
        parts.lake.query("SELECT count(*) FROM outcomes")


def test_an_empty_lake_still_has_the_outcomes_view(parts):
    _, rows = parts.lake.query("SELECT count(*) AS n FROM predictions p JOIN outcomes o USING (prediction_id)")
    assert rows == [(0,)]


def test_an_hour_whose_outcomes_were_all_erased_loses_its_object_at_the_next_export(parts, model):
    from creditwatch import lookups

    (pred,) = records_at(model, NOW - timedelta(days=10), 1)
    parts.log.write([pred])
    record(parts, NOW - timedelta(minutes=5), [(pred.prediction_id, "good")])
    parts.exporter.export(1, NOW)
    assert list(outcome_objects(parts)) == ["outcomes/dt=2026-11-20/hour=14/part-0.parquet"]
    assert lookups.erase(parts.log, pred.prediction_id)["outcome_events_erased"] == 1
    assert parts.exporter.export(1, NOW).outcome_rows == 0
    assert outcome_objects(parts) == {}


def test_auto_hands_the_lakes_part_to_athena_above_the_crossover(parts, model, server):
    from creditwatch_analytics.lake.athena import AthenaClient, AthenaWindow

    for hours_ago in range(1, 4):
        parts.log.write(records_at(model, NOW - timedelta(hours=hours_ago), 50 + 10 * hours_ago))
    parts.exporter.export(4, NOW)
    start, end = NOW.replace(minute=0) - timedelta(hours=3), NOW.replace(minute=0)
    # Estimated from the objects' sizes and the newest one's rows per byte: close to the 180 records.
    estimate = parts.lake.estimate_rows(start, end)
    assert 150 <= estimate <= 215, estimate
    athena = AthenaWindow(AthenaClient(boto_client("athena", server), "wg", "db"), model.schema.names)
    assert AutoWindow(parts.dynamo, parts.lake, athena, athena_above_rows=100).lake_part(start, end) is athena
    assert AutoWindow(parts.dynamo, parts.lake, athena, athena_above_rows=1000).lake_part(start, end) is parts.lake
    assert AutoWindow(parts.dynamo, parts.lake, None, athena_above_rows=100).lake_part(start, end) is parts.lake


# ---- late records (spill replays) and the table's TTL -----------------------------------------------


def spill(parts: Any, records: list[LogRecord]) -> None:
    """Records as the predict function spills what DynamoDB refused: in the spill queue, not the table."""
    for r in records:
        item = to_item(r, parts.log.shards, parts.log.ttl_days)
        parts.log.sqs.send_message(QueueUrl=parts.log.spill_queue_url, MessageBody=json.dumps(item))


def marked(parts: Any) -> list[datetime]:
    """The hours a spill replay marked for the export."""
    return [m.hour for m in PendingHours(parts.log.dynamodb, parts.log.table).list()]


def exporter_of(parts: Any, clock: datetime = NOW, **changes: Any) -> LakeExporter:
    """The exporter as the function builds it: the table's TTLs, the replay's marks, the clock at `clock`."""
    settings: dict[str, Any] = {
        "ttl_days": 90,
        "rejected_ttl_days": 30,
        "pending": PendingHours(parts.log.dynamodb, parts.log.table),
        "clock": lambda: clock,
    }
    return dataclasses.replace(parts.exporter, **{**settings, **changes})


def test_a_record_replayed_days_after_its_time_reaches_the_lake_at_the_next_export_exactly_once(parts, model):
    then = NOW - timedelta(days=3)
    exporter = exporter_of(parts)
    parts.log.write(records_at(model, then, 5))
    exporter.export(3, then)
    # Spilled then, replayed three days later: far outside the hours each export rewrites.
    (late,) = records_at(model, then + timedelta(minutes=10), 1)
    spill(parts, [late])
    exporter.export(3, NOW)
    assert late.prediction_id not in lake_ids(parts.s3, parts.bucket)
    assert parts.log.replay_spilled() == {"replayed": 1, "failed": 0}
    assert marked(parts) == [hour_floor(then)]
    result = exporter.export(3, NOW)
    assert [(h.hour, h.rows, h.merged) for h in result.late_hours] == [("2026-11-17T14:00:00Z", 6, False)]
    ids = lake_ids(parts.s3, parts.bucket)
    assert late.prediction_id in ids and len(ids) == len(set(ids)) == 6
    assert marked(parts) == []
    # The mark is gone: the next run rewrites only its recent hours.
    before = objects(parts.s3, parts.bucket)
    assert exporter.export(3, NOW).late_hours == []
    assert objects(parts.s3, parts.bucket) == before


def test_a_failure_between_writing_a_marked_hour_and_clearing_its_mark_rewrites_it_the_same_next_run(parts, model):
    then = NOW - timedelta(days=2, hours=5)
    spill(parts, records_at(model, then, 4))
    assert parts.log.replay_spilled() == {"replayed": 4, "failed": 0}

    class ClearFails(PendingHours):
        def clear(self, pending: PendingHour) -> bool:
            raise RuntimeError("cut short after the hour was written")

    with pytest.raises(RuntimeError, match="cut short"):
        exporter_of(parts, pending=ClearFails(parts.log.dynamodb, parts.log.table)).export(3, NOW)
    first = objects(parts.s3, parts.bucket)
    assert list(first) == [hour_key("predictions", then)] and marked(parts) == [hour_floor(then)]
    result = exporter_of(parts).export(3, NOW)
    assert [h.rows for h in result.late_hours] == [4]
    assert objects(parts.s3, parts.bucket) == first  # byte for byte: the same object, no duplicate
    assert marked(parts) == []


def test_an_hour_marked_again_while_the_export_runs_keeps_its_mark(parts, model):
    then = NOW - timedelta(days=4)
    spill(parts, records_at(model, then, 2))
    parts.log.replay_spilled()
    pending = PendingHours(parts.log.dynamodb, parts.log.table)

    class ReplayMeanwhile(PendingHours):
        def list(self) -> list[PendingHour]:
            seen = super().list()
            # A replay writes a record of the hour after the export read its marks: marked anew.
            pending.mark(then)
            return seen

    exporter_of(parts, pending=ReplayMeanwhile(parts.log.dynamodb, parts.log.table)).export(1, NOW)
    assert marked(parts) == [hour_floor(then)]
    exporter_of(parts).export(1, NOW)
    assert marked(parts) == []


def test_a_replay_that_cannot_mark_the_hour_leaves_its_records_queued(parts, model):
    then = NOW - timedelta(days=1)
    spill(parts, records_at(model, then, 3))

    class NoMarks:
        def __init__(self, ddb: Any) -> None:
            self.ddb = ddb

        def put_item(self, TableName: str, Item: dict[str, Any]) -> Any:
            if Item["pk"]["S"] == PENDING_PK:
                raise RuntimeError("throttled")
            return self.ddb.put_item(TableName=TableName, Item=Item)

    ddb = parts.log.dynamodb
    parts.log.dynamodb, parts.log.replay_visibility_s = NoMarks(ddb), 0
    assert parts.log.replay_spilled() == {"replayed": 0, "failed": 3}
    parts.log.dynamodb = ddb
    assert parts.log.replay_spilled() == {"replayed": 3, "failed": 0}
    assert marked(parts) == [hour_floor(then)]


def test_a_marked_hour_past_the_tables_ttl_gets_its_late_records_merged_and_loses_no_row(parts, model):
    then = NOW - timedelta(days=3)
    first = records_at(model, then, 5)
    parts.log.write(first)
    exporter_of(parts, clock=then, rejected_ttl_days=1).export(1, then)
    outcomes_key = hour_key("outcomes", then)
    parts.s3.put_object(Bucket=parts.bucket, Key=outcomes_key, Body=b"the audit trail")
    # The table's TTL took two of the hour's records; a third is replayed late.
    ddb = parts.log.dynamodb
    for r in first[:2]:
        item = to_item(r, parts.log.shards, parts.log.ttl_days)
        ddb.delete_item(TableName=parts.log.table, Key={"pk": item["pk"], "sk": item["sk"]})
    (late,) = records_at(model, then + timedelta(minutes=20), 1)
    spill(parts, [late])
    parts.log.replay_spilled()
    result = exporter_of(parts, rejected_ttl_days=1).export(1, NOW)
    assert [(h.rows, h.merged) for h in result.late_hours] == [(6, True)]
    ids = lake_ids(parts.s3, parts.bucket)
    assert sorted(ids) == sorted([r.prediction_id for r in first] + [late.prediction_id])
    assert parts.s3.get_object(Bucket=parts.bucket, Key=outcomes_key)["Body"].read() == b"the audit trail"
    assert marked(parts) == []


def test_an_export_of_hours_past_the_tables_shortest_ttl_is_refused_before_writing(parts, model):
    exporter = exporter_of(parts)
    parts.log.write(records_at(model, NOW - timedelta(days=30), 3))
    with pytest.raises(RewriteRefused, match=r"RejectedTtlDays \(REJECTED_TTL_DAYS\)=30") as refused:
        exporter.export(1, NOW - timedelta(days=30))
    assert refused.value.limit_days == 30
    with pytest.raises(RewriteRefused, match="older than 30 day"):
        exporter.export(24 * 30 + 1, NOW)
    assert objects(parts.s3, parts.bucket) == {} and exporter.read_watermark() is None
    # The newest hour the limit allows: its first records are 29 days 23 hours old.
    assert exporter.export(1, NOW - timedelta(days=30) + timedelta(hours=1)).rows == 0
    # Without a rejected-request TTL, the predictions' one is the limit.
    with pytest.raises(RewriteRefused, match=r"PredictionTtlDays \(LOG_TTL_DAYS\)=90"):
        exporter_of(parts, rejected_ttl_days=None).export(1, NOW - timedelta(days=91))


def test_the_function_answers_an_export_past_the_ttl_and_fails_a_schedule_that_reaches_past_it(
    parts, model, monkeypatch
):
    from creditwatch_common.observability import Observability, Service
    from creditwatch_lake_export.app import LakeExportService
    from creditwatch_lake_export.settings import LakeExportSettings

    settings = LakeExportSettings()
    service = LakeExportService(
        settings=settings, exporter=exporter_of(parts), obs=Observability.build(Service.LAKE_EXPORT, settings)
    )
    answer = service.handle({"hours": 3, "at": (NOW - timedelta(days=40)).isoformat()})
    assert answer["status"] == "refused" and answer["limit_days"] == 30
    assert "RejectedTtlDays (REJECTED_TTL_DAYS)=30" in answer["message"]
    assert service.handle({"hours": 24 * 30 + 1, "at": NOW.isoformat()})["status"] == "refused"
    assert objects(parts.s3, parts.bucket) == {}
    # The schedule's own hours past the TTL (LakeExportHours 48, RejectedTtlDays 1): every run fails loudly.
    monkeypatch.setenv("LAKE_EXPORT_HOURS", "48")
    settings = LakeExportSettings()
    service = LakeExportService(
        settings=settings,
        exporter=exporter_of(parts, rejected_ttl_days=1, clock=datetime.now(UTC)),
        obs=Observability.build(Service.LAKE_EXPORT, settings),
    )
    with pytest.raises(RewriteRefused, match=r"RejectedTtlDays \(REJECTED_TTL_DAYS\)=1"):
        service.handle({"source": "creditwatch.schedule"})


def test_the_cli_refuses_an_export_past_the_ttl_with_one_line_naming_the_limit(parts, server, monkeypatch):
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from creditwatch import cli, errors
    from creditwatch.cli import common

    monkeypatch.setattr(common, "local_state", lambda: SimpleNamespace(endpoint=server))
    result = CliRunner().invoke(cli.app, ["lake", "export", "--hours", str(24 * 30 + 1)])
    assert result.exit_code == errors.USAGE
    (line,) = result.stderr.splitlines()
    assert "--hours 721" in line and "RejectedTtlDays (REJECTED_TTL_DAYS)=30" in line
    assert objects(parts.s3, parts.bucket) == {}


def test_a_run_rewrites_at_most_its_share_of_marked_hours_and_leaves_the_rest_marked(parts, model):
    then = NOW - timedelta(days=5)
    pending = PendingHours(parts.log.dynamodb, parts.log.table)
    for i in range(3):
        parts.log.write(records_at(model, then + i * timedelta(hours=1), 2))
        pending.mark(then + i * timedelta(hours=1))
    first = exporter_of(parts, late_hours_per_run=2).export(1, NOW)
    assert [h.hour for h in first.late_hours] == ["2026-11-15T14:00:00Z", "2026-11-15T15:00:00Z"]
    assert marked(parts) == [hour_floor(then + timedelta(hours=2))]
    second = exporter_of(parts, late_hours_per_run=2).export(1, NOW)
    assert [h.hour for h in second.late_hours] == ["2026-11-15T16:00:00Z"] and marked(parts) == []
    assert len(lake_ids(parts.s3, parts.bucket)) == 6


# ---- backfill ---------------------------------------------------------------------------------------

SIMULATED = "simulated-history-concept-drift-x"


def test_a_backfill_of_recent_days_writes_the_objects_an_export_of_the_same_hours_writes(parts, model):
    scored = records_at(model, NOW - timedelta(hours=2), 4)
    parts.log.write(scored + records_at(model, NOW - timedelta(hours=1), 3))
    record(parts, NOW - timedelta(hours=1), [(scored[0].prediction_id, "good")])
    exporter_of(parts).export(3, NOW)
    exported = {**objects(parts.s3, parts.bucket), **outcome_objects(parts)}
    empty_lake_only(parts)
    result = backfill(exporter_of(parts), NOW - timedelta(hours=2), NOW)
    assert {**objects(parts.s3, parts.bucket), **outcome_objects(parts)} == exported
    assert (result.rows, result.outcome_rows, result.simulated_days) == (7, 1, [])


def test_a_backfill_writes_simulated_days_past_the_ttl_and_one_watermark_spans_them_and_the_recent_hours(parts, model):
    old = NOW - timedelta(days=4)
    parts.log.write(records_at(model, old, 3, request_id=SIMULATED))
    parts.log.write(records_at(model, old + timedelta(days=1, hours=2), 2, request_id=SIMULATED))
    # The day the TTL's limit crosses (2026-11-18 14:00): real traffic in its younger hours is exported as usual.
    parts.log.write(records_at(model, old + timedelta(days=2), 1, request_id=SIMULATED))
    parts.log.write(records_at(model, old + timedelta(days=2, hours=3), 1))
    exporter = exporter_of(parts, rejected_ttl_days=2)
    exporter.export(2, NOW)
    progress: list[tuple[int, int]] = []
    result = backfill(exporter, old.replace(hour=0, minute=0), NOW, lambda done, total: progress.append((done, total)))
    assert result.simulated_days == ["2026-11-16", "2026-11-17", "2026-11-18"]
    assert len(lake_ids(parts.s3, parts.bucket)) == 7 and progress == [(i, 5) for i in range(1, 6)]
    mark = exporter.read_watermark()
    assert mark is not None and (mark.first_hour, mark.complete_through) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        hour_floor(NOW),
    )


def test_a_backfill_refuses_a_day_past_the_ttl_that_holds_a_real_record_and_writes_nothing_of_it(parts, model):
    old = NOW - timedelta(days=35)
    parts.log.write(records_at(model, old, 2, request_id=SIMULATED) + records_at(model, old + timedelta(hours=1), 1))
    exporter = exporter_of(parts)
    with pytest.raises(RewriteRefused, match=r"2026-10-16 has hours older than 30 day.*=30.* is not simulated"):
        backfill(exporter, old - timedelta(hours=1), old + timedelta(hours=3))
    assert objects(parts.s3, parts.bucket) == {} and exporter.read_watermark() is None


def test_a_backfill_refuses_a_day_past_the_ttl_of_which_the_table_holds_no_record(parts, model):
    with pytest.raises(RewriteRefused, match="holds no simulated record of it"):
        backfill(exporter_of(parts), NOW - timedelta(days=40), NOW - timedelta(days=39))
    assert objects(parts.s3, parts.bucket) == {}


def test_a_backfill_merges_a_simulated_hour_past_the_ttl_into_the_lakes_object_and_drops_no_row(parts, model):
    old = NOW - timedelta(days=33)
    first = records_at(model, old, 3, request_id=SIMULATED)
    parts.log.write(first)
    backfill(exporter_of(parts), old, old + timedelta(hours=1))
    ddb = parts.log.dynamodb
    item = to_item(first[0], parts.log.shards, parts.log.ttl_days)
    ddb.delete_item(TableName=parts.log.table, Key={"pk": item["pk"], "sk": item["sk"]})
    backfill(exporter_of(parts), old, old + timedelta(hours=1))
    assert sorted(lake_ids(parts.s3, parts.bucket)) == sorted(r.prediction_id for r in first)


def test_the_marker_a_backfill_trusts_is_the_one_the_history_simulator_writes():
    from creditwatch.labelled_history import request_id

    assert is_simulated({"request_id": request_id("stable", "0190-x")})
    assert not is_simulated({"request_id": "0190-x"}) and not is_simulated({})


def empty_lake_only(parts: Any) -> None:
    """Delete every object of the lake, the table left as it is."""
    for page in parts.s3.get_paginator("list_object_versions").paginate(Bucket=parts.bucket):
        for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            parts.s3.delete_object(Bucket=parts.bucket, Key=v["Key"], VersionId=v["VersionId"])
