"""Erasing records from the lake: the objects that hold them rewritten whole without their rows."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import test_lake
from test_lake import parts, server, stack  # noqa: F401 - the lake's moto server fixtures

from creditwatch import lookups
from creditwatch_analytics.lake.erase import erase_from_lake, prediction_hour_key
from creditwatch_analytics.lake.export import hour_key
from creditwatch_analytics.lake.schema import FEATURE_SCHEMA_KEY, SCHEMA_VERSION_KEY, LakeError, check_version

NOW, outcome_objects, record, records_at = (
    test_lake.NOW,
    test_lake.outcome_objects,
    test_lake.record,
    test_lake.records_at,
)
HOUR = NOW - timedelta(days=10)
HOUR_KEY = "predictions/dt=2026-11-10/hour=14/part-0.parquet"


def body(lake: Any, key: str) -> bytes:
    return bytes(lake.s3.get_object(Bucket=lake.bucket, Key=key)["Body"].read())


def keys(lake: Any, prefix: str) -> list[str]:
    listed = lake.s3.list_objects_v2(Bucket=lake.bucket, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_the_hour_of_a_prediction_is_known_from_its_id(model):
    (pred,) = records_at(model, HOUR, 1)
    assert prediction_hour_key(pred.prediction_id) == HOUR_KEY == hour_key("predictions", HOUR)


def test_erasing_the_only_record_of_an_hour_deletes_that_hours_object(parts, model):  # noqa: F811
    (pred,) = records_at(model, HOUR, 1)
    parts.log.write([pred])
    parts.exporter.export_hour(HOUR)
    assert keys(parts, "predictions/dt=") == [HOUR_KEY]
    result = erase_from_lake(parts.s3, parts.bucket, [pred.prediction_id])
    (done,) = result.objects
    assert (done.key, done.rows_removed, done.rows_left, done.deleted) == (HOUR_KEY, 1, 0, True)
    assert keys(parts, "predictions/dt=") == []
    # A second erase finds nothing to do.
    again = erase_from_lake(parts.s3, parts.bucket, [pred.prediction_id])
    assert again.objects == [] and again.objects_read == 0


def test_erasing_one_of_several_keeps_the_others_in_content_order_row_groups_and_schema_version(parts, model):  # noqa: F811
    preds = records_at(model, HOUR, 350)
    parts.log.write(preds)
    parts.exporter.first_row_group = 100
    parts.exporter.export_hour(HOUR)
    before = pq.ParquetFile(io.BytesIO(body(parts, HOUR_KEY)))
    assert [before.metadata.row_group(i).num_rows for i in range(before.metadata.num_row_groups)] == [100, 200, 50]
    table = before.read()
    gone = table.column("prediction_id")[42].as_py()
    result = erase_from_lake(parts.s3, parts.bucket, [gone])
    assert [(o.key, o.rows_removed, o.rows_left, o.deleted) for o in result.objects] == [(HOUR_KEY, 1, 349, False)]
    after = pq.ParquetFile(io.BytesIO(body(parts, HOUR_KEY)))
    # Every other row, equal value for value and in the same order (by sample key).
    kept = table.filter(pa.array([pid != gone for pid in table.column("prediction_id").to_pylist()]))
    assert after.read().equals(kept, check_metadata=True)
    assert after.read().column("sample_key").to_pylist() == sorted(kept.column("sample_key").to_pylist())
    # The same schema, its version keys in the file's metadata, and the export's row-group layout.
    assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)
    meta = after.schema_arrow.metadata
    assert check_version(meta, HOUR_KEY) == 1
    assert meta[FEATURE_SCHEMA_KEY] == before.schema_arrow.metadata[FEATURE_SCHEMA_KEY]
    assert meta[SCHEMA_VERSION_KEY] == b"1"
    assert [after.metadata.row_group(i).num_rows for i in range(after.metadata.num_row_groups)] == [100, 200, 49]
    # The lake reads it as before, less the one record.
    assert parts.lake.query("SELECT count(*) FROM predictions")[1] == [(349,)]


def test_outcome_events_of_the_id_are_removed_from_the_outcomes_objects_of_their_recorded_days(parts, model):  # noqa: F811
    a, b = records_at(model, HOUR, 2)
    parts.log.write([a, b])
    first, corrected = NOW - timedelta(days=2), NOW - timedelta(minutes=5)
    record(parts, first, [(a.prediction_id, "good"), (b.prediction_id, "good")])
    record(parts, corrected, [(a.prediction_id, "bad")], correction=True)
    for hour in (HOUR, first, corrected):
        parts.exporter.export_hour(hour)
    first_key, corrected_key = hour_key("outcomes", first), hour_key("outcomes", corrected)
    assert sorted(outcome_objects(parts)) == [first_key, corrected_key]
    # lookups.erase passes the recorded times of the table item (outcome_recorded_at, outcome_history).
    erased = lookups.erase(parts.log, a.prediction_id, lake_s3=parts.s3, lake_bucket=parts.bucket)
    assert erased["erased"] and erased["outcome_events_erased"] == 2
    lake = erased["lake"]
    assert lake["rewritten"] and lake["rows_removed"] == 3 and "recorded times" in lake["outcomes_found_by"]
    assert {o["key"]: o["deleted"] for o in lake["objects"]} == {HOUR_KEY: False, first_key: False, corrected_key: True}
    # b's event stays, as it was; a's hour object keeps b.
    (row,) = pq.read_table(io.BytesIO(outcome_objects(parts)[first_key])).to_pylist()
    assert (row["prediction_id"], row["outcome"]) == (b.prediction_id, "good")
    assert pq.read_table(io.BytesIO(body(parts, HOUR_KEY))).column("prediction_id").to_pylist() == [b.prediction_id]


def test_outcome_events_are_found_by_the_dates_they_were_recorded_on(parts, model):  # noqa: F811
    a, b = records_at(model, HOUR, 2)
    parts.log.write([a, b])
    at = NOW - timedelta(days=1)
    record(parts, at, [(a.prediction_id, "bad"), (b.prediction_id, "good")])
    parts.exporter.export_hour(at)
    key = hour_key("outcomes", at)
    result = erase_from_lake(parts.s3, parts.bucket, [a.prediction_id], outcome_dates=[at.date().isoformat()])
    assert [(o.key, o.rows_removed, o.removed_recorded_at) for o in result.objects] == [
        (key, 1, ["2026-11-19T14:30:00.000Z"])
    ]
    assert pq.read_table(io.BytesIO(outcome_objects(parts)[key])).column("prediction_id").to_pylist() == [
        b.prediction_id
    ]


def test_a_record_past_the_tables_ttl_is_still_erased_from_the_lake(parts, model):  # noqa: F811
    a, b = records_at(model, HOUR, 2)
    parts.log.write([a, b])
    at = NOW - timedelta(days=3)
    record(parts, at, [(a.prediction_id, "bad"), (b.prediction_id, "good")])
    parts.exporter.export_hour(HOUR)
    parts.exporter.export_hour(at)
    # The TTL removed the prediction's item (its outcome event, with its own TTL, can outlive it).
    from creditwatch_common.log.keys import key_attributes, keys_for

    key = key_attributes(keys_for(a.prediction_id, parts.log.shards))
    parts.log.dynamodb.delete_item(TableName=parts.log.table, Key=key)
    erased = lookups.erase(parts.log, a.prediction_id, lake_s3=parts.s3, lake_bucket=parts.bucket)
    assert erased["erased"] is False
    lake = erased["lake"]
    assert lake["rows_removed"] == 2 and "scan of every object under outcomes/" in lake["outcomes_found_by"]
    assert {o["key"] for o in lake["objects"]} == {HOUR_KEY, hour_key("outcomes", at)}
    # The event found in the lake is deleted from the table too.
    assert erased["outcome_events_erased"] == 1
    events = parts.log.dynamodb.scan(TableName=parts.log.table)["Items"]
    assert a.prediction_id not in json.dumps(events) and b.prediction_id in json.dumps(events)
    ids = pq.read_table(io.BytesIO(body(parts, HOUR_KEY))).column("prediction_id").to_pylist()
    assert ids == [b.prediction_id]
    text = " ".join(erased["may_also_be_held_in"])
    assert "rewrites the record's hour" in text and "7 days" in text and "Object Lock" in text


def test_an_object_that_is_not_parquet_fails_the_erase_with_its_key(parts, model):  # noqa: F811
    (pred,) = records_at(model, HOUR, 1)
    parts.s3.put_object(Bucket=parts.bucket, Key=HOUR_KEY, Body=b"not parquet at all")
    with pytest.raises(LakeError, match=HOUR_KEY):
        erase_from_lake(parts.s3, parts.bucket, [pred.prediction_id])
    assert body(parts, HOUR_KEY) == b"not parquet at all"


def test_an_object_of_an_unknown_schema_version_fails_the_erase_with_its_key(parts, model):  # noqa: F811
    (pred,) = records_at(model, HOUR, 1)
    table = pa.table({"prediction_id": [pred.prediction_id]}).replace_schema_metadata({SCHEMA_VERSION_KEY: b"99"})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    key = "outcomes/dt=2026-11-18/hour=09/part-0.parquet"
    parts.s3.put_object(Bucket=parts.bucket, Key=key, Body=buf.getvalue())
    with pytest.raises(LakeError, match=key):
        erase_from_lake(parts.s3, parts.bucket, [pred.prediction_id], scan_outcomes=True)
    parts.s3.put_object(Bucket=parts.bucket, Key=HOUR_KEY, Body=buf.getvalue())
    with pytest.raises(LakeError, match=HOUR_KEY):
        erase_from_lake(parts.s3, parts.bucket, [pred.prediction_id])


class RacingS3:
    """An S3 client on which an export replaces the object right after the erase first reads it."""

    def __init__(self, s3: Any, race: Any) -> None:
        self.s3, self.race, self.raced = s3, race, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def get_object(self, **kwargs: Any) -> Any:
        got = self.s3.get_object(**kwargs)
        if not self.raced:
            self.raced = True
            self.race()
        return got


def test_an_object_an_export_replaced_after_it_was_read_is_read_again_not_overwritten(parts, model):  # noqa: F811
    a, b, c = records_at(model, HOUR, 3)
    parts.log.write([a, b])
    parts.exporter.export_hour(HOUR)

    def export_with_c() -> None:
        parts.log.write([c])
        parts.exporter.export_hour(HOUR)

    result = erase_from_lake(RacingS3(parts.s3, export_with_c), parts.bucket, [a.prediction_id])
    assert [(o.rows_removed, o.rows_left) for o in result.objects] == [(1, 2)]
    ids = pq.read_table(io.BytesIO(body(parts, HOUR_KEY))).column("prediction_id").to_pylist()
    assert sorted(ids) == sorted([b.prediction_id, c.prediction_id])


def test_creditwatch_log_erase_rewrites_the_local_stacks_lake(parts, model, server, monkeypatch):  # noqa: F811
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from creditwatch import cli, lake
    from creditwatch.cli import common

    a, b = records_at(model, HOUR, 2)
    parts.log.write([a, b])
    parts.exporter.export_hour(HOUR)
    monkeypatch.setattr(common, "prediction_log", lambda: parts.log)
    monkeypatch.setattr(common, "local_state", lambda: SimpleNamespace(endpoint=server))
    assert lake.bucket(server)[1] == parts.bucket
    result = CliRunner().invoke(cli.app, ["log", "erase", a.prediction_id])
    assert result.exit_code == 0, result.output
    erased = json.loads(result.stdout)
    assert erased["erased"] and erased["lake"]["bucket"] == parts.bucket and erased["lake"]["rows_removed"] == 1
    assert pq.read_table(io.BytesIO(body(parts, HOUR_KEY))).column("prediction_id").to_pylist() == [b.prediction_id]
    # Once the table no longer holds it and the lake neither, nothing is left to erase: a failure.
    again = CliRunner().invoke(cli.app, ["log", "erase", a.prediction_id])
    assert again.exit_code != 0 and "nor in lake bucket" in again.stderr
    # b past the table's TTL: erased from the lake only, and the command says so.
    from creditwatch_common.log.keys import key_attributes, keys_for

    key = key_attributes(keys_for(b.prediction_id, parts.log.shards))
    parts.log.dynamodb.delete_item(TableName=parts.log.table, Key=key)
    past = CliRunner().invoke(cli.app, ["log", "erase", b.prediction_id])
    assert past.exit_code == 0, past.output
    assert "scanning outcomes/" in past.stderr and keys(parts, "predictions/dt=") == []
