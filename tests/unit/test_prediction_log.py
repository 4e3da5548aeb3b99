import math
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from creditwatch_common.dynamo_json import deserialize, serialize
from creditwatch_common.ids import iso_millis, uuid7, uuid7_millis, uuid7s
from creditwatch_common.log.items import column_items, from_item, reprs, to_attributes, to_item, to_items
from creditwatch_common.log.keys import keys_for, shard_of
from creditwatch_common.records import FullRow, LogRecord, ScoredRow


def _record(**kw):
    base = {"request_id": "r1", "route": "/predict", "status": 200, "latency_ms": 1.5, "model_version": "v1"}
    return LogRecord(**{**base, **kw})


def test_uuid7_carries_its_millisecond_and_sorts_by_time():
    ids = [uuid7(now_ms=1_700_000_000_000 + i) for i in range(50)]
    assert [uuid7_millis(i) for i in ids] == [1_700_000_000_000 + i for i in range(50)]
    assert ids == sorted(ids)
    with pytest.raises(ValueError):
        uuid7_millis("6f1c3e0e-1111-4111-8111-111111111111")


def test_ids_made_in_bulk_are_valid_distinct_uuid7s_of_their_millisecond():
    import uuid

    ids = uuid7s(2000, now_ms=1_795_338_000_123)
    assert len(set(ids)) == 2000 and uuid7s(0) == []
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert uuid7_millis(value) == 1_795_338_000_123
    # Random bits really vary in every position that is not fixed (version, variant, time).
    assert all(len({v[i] for v in ids}) > 1 for i in (15, 19, 20, 35))


def test_keys_follow_from_the_id_and_spread_over_shards():
    rid = uuid7(now_ms=1_795_338_000_123)
    keys = keys_for(rid, 16)
    assert keys["pk"].startswith("LOG#2026-11-22#")
    assert keys["sk"] == f"2026-11-22T09:00:00.123Z#{rid}"
    spread = Counter(shard_of(uuid7(), 16) for _ in range(4000))
    assert len(spread) == 16 and min(spread.values()) > 150  # no hot partition


def test_batch_items_carry_the_same_keys_and_times_as_single_ones():
    # Ids of several milliseconds across a day boundary, some sharing one: every item's key and
    # time attributes are what the id alone gives.
    ms = [1_795_391_999_998, 1_795_391_999_999, 1_795_392_000_000]
    ids = [i for m in ms for i in uuid7s(40, now_ms=m)] + [uuid7(now_ms=ms[0])]
    items = to_items([{"prediction_id": i, "status": 200} for i in ids], 16, 90)
    for rid, item in zip(ids, items, strict=True):
        assert {"pk": item["pk"]["S"], "sk": item["sk"]["S"]} == keys_for(rid, 16)
        assert item["ts"]["S"] == iso_millis(uuid7_millis(rid))
        assert int(item["expires_at"]["N"]) == uuid7_millis(rid) // 1000 + 90 * 86400
    assert {item["pk"]["S"][:14] for item in items} == {"LOG#2026-11-22", "LOG#2026-11-23"}
    with pytest.raises(ValueError):
        to_items([{"prediction_id": "6f1c3e0e-1111-4111-8111-111111111111"}], 16, 90)


def test_attribute_values_round_trip():
    value = {"a": 1, "b": 0.1, "c": "x", "d": None, "e": [1, 2.5, "z"], "f": {"g": True}}
    assert deserialize(serialize(value)) == value
    assert serialize(0.1) == {"N": "0.1"}


def test_item_has_keys_ttl_and_no_empty_attributes():
    rec = _record(features={"age_in_years": 30}, probability_good_credit=0.8)
    item = to_item(rec, 16, 90)
    assert item["expires_at"]["N"] == str(rec.millis // 1000 + 90 * 86400)
    assert "error_class" not in item
    assert item["features"] == {"S": '{"age_in_years":30}'}


def test_features_stored_as_a_map_by_earlier_versions_still_read_back():
    rec = _record(features={"age_in_years": 30, "purpose": "A43"})
    item = to_item(rec, 16, 90)
    item["features"] = serialize({"age_in_years": 30, "purpose": "A43"})
    assert from_item(item)["features"] == from_item(to_item(rec, 16, 90))["features"]


def test_common_fields_go_to_every_item_and_a_record_overrides_them():
    common = to_attributes({"request_id": "r9", "route": "/predict-batch", "batch_size": 2, "error_class": None})
    a = to_item({"prediction_id": uuid7(), "batch_index": 0}, 16, 90, common)
    b = to_item({"prediction_id": uuid7(), "batch_index": 1, "batch_size": None, "route": "/x"}, 16, 90, common)
    assert a["request_id"] == {"S": "r9"} and a["batch_size"] == {"N": "2"} and "error_class" not in a
    assert b["route"] == {"S": "/x"} and "batch_size" not in b


def test_records_given_by_column_make_the_items_the_same_records_make_one_by_one():
    # Ids of two milliseconds, low- and high-cardinality columns, a column some records lack, values
    # to_items encodes (features, a list), a status column with a rejection, a field also in common.
    ids = uuid7s(30, now_ms=1_795_391_999_999) + uuid7s(30, now_ms=1_795_392_000_000)
    n = len(ids)
    columns = {
        "prediction_id": ids,
        "batch_index": list(range(n)),
        "probability_good_credit": [i / 7 for i in range(n)],
        "decision": ["approve" if i % 3 else "refuse" for i in range(n)],
        "prediction": [i % 2 for i in range(n)],
        "features": [{"age_in_years": i, "purpose": "A43"} for i in range(n)],
        "case_id": [f"c{i}" if i % 4 == 0 else None for i in range(n)],
        "referral": [["band", "audit"] if i % 4 == 0 else None for i in range(n)],
        "status": [422 if i == 5 else None for i in range(n)],
        "route": ["/x" if i == 7 else None for i in range(n)],
    }
    common = to_attributes({"request_id": "r9", "route": "/predict-batch", "status": 200, "latency_ms": 2.5})
    one_by_one = [{k: v[i] for k, v in columns.items() if v[i] is not None} for i in range(n)]
    assert column_items(columns, 16, 762, common, 30) == to_items(one_by_one, 16, 762, common, 30)
    assert column_items({"prediction_id": ids[:2]}, 8, 90) == to_items([{"prediction_id": i} for i in ids[:2]], 8, 90)


def test_floats_are_written_as_repr_writes_them_whatever_their_size():
    rng = random.Random(7)
    values = [rng.random() * 10.0 ** rng.randint(-12, 20) * rng.choice([1, -1]) for _ in range(20_000)]
    values += [0.0, -0.0, 1.0, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0, 5e-324, 1.7976931348623157e308]
    values += [math.inf, -math.inf, math.nan]
    assert reprs(values) == list(map(repr, values)) and reprs([]) == []


def test_write_and_get_by_id(prediction_log):
    rec = _record(features={"age_in_years": 30}, probability_good_credit=0.8, decision="approve")
    outcome = prediction_log.write([rec])
    assert (outcome.written, outcome.spilled) == (1, 0)
    got = prediction_log.get(rec.prediction_id)
    assert got.features == {"age_in_years": 30} and got.probability_good_credit == 0.8
    assert prediction_log.get(uuid7()) is None


def test_batch_write_of_1000_records_and_window_query(prediction_log):
    records = [_record(kind="application", batch_index=i, probability_good_credit=i / 1000) for i in range(1000)]
    assert prediction_log.write(records).written == 1000
    now = datetime.now(UTC)
    rows = list(
        prediction_log.query_window(now - timedelta(minutes=5), now + timedelta(minutes=5), FullRow, kind="application")
    )
    assert len(rows) == 1000
    assert list(prediction_log.query_window(now + timedelta(minutes=5), now + timedelta(minutes=10), FullRow)) == []


class PagedClient:
    """The real (moto) client, with small pages forced on every Query and the calls counted."""

    def __init__(self, real, limit, fail_on_pk=None):
        self.real, self.limit, self.fail_on_pk, self.queries = real, limit, fail_on_pk, 0

    def query(self, **kw):
        self.queries += 1
        if self.fail_on_pk and kw["ExpressionAttributeValues"][":pk"]["S"].endswith(self.fail_on_pk):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query")
        return self.real.query(**{**kw, "Limit": self.limit})

    def __getattr__(self, name):
        return getattr(self.real, name)


NOON_MS = 1_795_348_800_000  # 2026-11-22T12:00:00Z


def _window_of(prediction_log, n):
    # A fixed noon, not the clock: within five minutes of midnight the window spans two days, twice
    # the partitions, and the empty ones change how many queries a read makes.
    records = [
        _record(prediction_id=uuid7(now_ms=NOON_MS + i), kind="application", batch_index=i, probability_good_credit=0.5)
        for i in range(n)
    ]
    prediction_log.write(records)
    noon = datetime.fromtimestamp(NOON_MS / 1000, UTC)
    return noon - timedelta(minutes=5), noon + timedelta(minutes=5)


def test_window_read_follows_every_page_of_every_partition(prediction_log):
    start, end = _window_of(prediction_log, 300)
    prediction_log.dynamodb = PagedClient(prediction_log.dynamodb, limit=7)
    rows = list(prediction_log.query_window(start, end, FullRow, workers=4))
    assert sorted(r.batch_index for r in rows) == list(range(300))
    assert prediction_log.dynamodb.queries > 300 // 7


def test_window_read_holds_a_few_pages_not_the_window(prediction_log):
    start, end = _window_of(prediction_log, 400)
    prediction_log.dynamodb = PagedClient(prediction_log.dynamodb, limit=2)
    stream = prediction_log.query_window(start, end, FullRow, workers=2)
    next(stream)
    time.sleep(0.5)  # the producers run ahead as far as they may
    stream.close()
    # 400 records in pages of 2 is 200+ queries; producers stop at the bounded queue (4 pages) plus
    # one page in hand per worker.
    assert prediction_log.dynamodb.queries <= 10


def test_a_failing_partition_fails_the_read(prediction_log):
    start, end = _window_of(prediction_log, 50)
    prediction_log.dynamodb = PagedClient(prediction_log.dynamodb, limit=5, fail_on_pk="#03")
    with pytest.raises(ClientError):
        list(prediction_log.query_window(start, end, FullRow, workers=4))


def test_window_bounds_are_half_open(prediction_log):
    t0 = 1_795_338_000_000
    recs = [_record(prediction_id=uuid7(now_ms=t0 + d)) for d in (-1, 0, 59_999, 60_000)]
    prediction_log.write(recs)
    start = datetime.fromtimestamp(t0 / 1000, UTC)
    rows = list(prediction_log.query_window(start, start + timedelta(minutes=1), FullRow))
    assert sorted(uuid7_millis(r.prediction_id) - t0 for r in rows) == [0, 59_999]


def test_window_across_midnight_reads_both_days(prediction_log):
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    ms = int(midnight.timestamp() * 1000)
    prediction_log.write(
        [_record(prediction_id=uuid7(now_ms=ms - 1000)), _record(prediction_id=uuid7(now_ms=ms + 1000))]
    )
    rows = list(prediction_log.query_window(midnight - timedelta(minutes=1), midnight + timedelta(minutes=1), FullRow))
    assert len(rows) == 2


def test_scored_rows_read_only_their_attributes_and_only_scored_records(prediction_log):
    rec = _record(probability_good_credit=0.4, features={"x": 1}, decision="refuse")
    prediction_log.write([rec, _record(status=422, error_class="validation_error", raw_body="{}")])
    now = datetime.now(UTC)
    calls = []
    real = prediction_log.dynamodb

    class Spy:
        def query(self, **kw):
            calls.append(kw)
            return real.query(**kw)

    prediction_log.dynamodb = Spy()
    window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    rows = list(prediction_log.query_window(*window, ScoredRow, scored_only=True))
    assert rows == [ScoredRow(rec.prediction_id, {"x": 1}, 0.4, "refuse", "v1", ts=rec.timestamp)]
    names = calls[0]["ExpressionAttributeNames"]
    projected = {names[n.strip()] for n in calls[0]["ProjectionExpression"].split(",")}
    assert "raw_body" not in projected and "features" in projected


def test_records_written_under_the_old_probability_name_still_read_back(prediction_log, ddb):
    rec = _record(probability_good_credit=0.7, features={"x": 2}, decision="approve")
    item = to_item(rec, prediction_log.shards, 90)
    item["probability_good"] = item.pop("probability_good_credit")
    ddb.put_item(TableName=prediction_log.table, Item=item)
    now = datetime.now(UTC)
    window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    (row,) = prediction_log.query_window(*window, ScoredRow, scored_only=True)
    assert row.probability_good_credit == 0.7
    assert prediction_log.get(rec.prediction_id).probability_good_credit == 0.7


class FlakyDynamo:
    """BatchWriteItem that leaves items unprocessed (what moto never does), then PutItem failures."""

    def __init__(self, real, unprocessed_rounds: int, fail_puts: int = 0):
        self.real, self.rounds, self.fail_puts, self.calls = real, unprocessed_rounds, fail_puts, Counter()

    def batch_write_item(self, RequestItems):
        self.calls["batch"] += 1
        ((table, reqs),) = RequestItems.items()
        if self.rounds > 0:
            self.rounds -= 1
            keep, left = reqs[: len(reqs) // 2], reqs[len(reqs) // 2 :]
            self.real.batch_write_item(RequestItems={table: keep})
            return {"UnprocessedItems": {table: left}}
        return self.real.batch_write_item(RequestItems=RequestItems)

    def put_item(self, **kw):
        self.calls["put"] += 1
        if self.fail_puts > 0:
            self.fail_puts -= 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
            )
        return self.real.put_item(**kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_unprocessed_items_are_retried_until_written(prediction_log, ddb):
    prediction_log.dynamodb = FlakyDynamo(ddb, unprocessed_rounds=3)
    out = prediction_log.write([_record(kind="application", batch_index=i) for i in range(40)])
    assert (out.written, out.spilled, out.logged_only) == (40, 0, 0)
    assert "UnprocessedItems" in out.errors


class SlowDynamo:
    """BatchWriteItem with a network-like delay, recording how many calls overlap."""

    def __init__(self, real):
        self.real, self.in_flight, self.most, self.lock = real, 0, 0, __import__("threading").Lock()

    def batch_write_item(self, RequestItems):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        time.sleep(0.02)
        try:
            return self.real.batch_write_item(RequestItems=RequestItems)
        finally:
            with self.lock:
                self.in_flight -= 1

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_large_write_sends_its_batches_in_parallel_and_counts_them_all(prediction_log, ddb):
    prediction_log.dynamodb = SlowDynamo(ddb)
    records = [_record(kind="application", batch_index=i) for i in range(1000)]
    out = prediction_log.write(records)
    assert (out.written, out.spilled, out.errors) == (1000, 0, [])
    assert 1 < prediction_log.dynamodb.most <= prediction_log.write_workers
    assert all(prediction_log.get(r.prediction_id) for r in records[::97])


def test_items_still_unprocessed_after_retries_are_spilled_then_replayed(prediction_log, ddb, sqs):
    prediction_log.dynamodb = FlakyDynamo(ddb, unprocessed_rounds=100)
    records = [_record(kind="application", batch_index=i) for i in range(20)]
    out = prediction_log.write(records)
    assert out.written + out.spilled == 20 and out.spilled > 0 and out.logged_only == 0
    prediction_log.dynamodb = ddb
    result = prediction_log.replay_spilled()
    assert result == {"replayed": out.spilled, "failed": 0}
    assert all(prediction_log.get(r.prediction_id) for r in records)
    assert prediction_log.replay_spilled() == {"replayed": 0, "failed": 0}


def test_put_retries_throttling_then_succeeds(prediction_log, ddb):
    prediction_log.dynamodb = FlakyDynamo(ddb, 0, fail_puts=2)
    assert prediction_log.write([_record()]).written == 1


def test_when_dynamodb_and_sqs_both_fail_the_record_goes_to_the_log(prediction_log, ddb):
    prediction_log.dynamodb = FlakyDynamo(ddb, 0, fail_puts=100)

    class DeadSqs:
        def send_message_batch(self, **kw):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")

    kept = []
    prediction_log.sqs = DeadSqs()
    prediction_log.on_last_resort = kept.append
    rec = _record()
    out = prediction_log.write([rec])
    assert (out.written, out.spilled, out.logged_only) == (0, 0, 1)
    assert kept[0]["prediction_id"] == {"S": rec.prediction_id}


def test_missing_table_is_not_retried_but_spilled(prediction_log):
    prediction_log.table = "no-such-table"
    out = prediction_log.write([_record()])
    assert out.spilled == 1 and out.errors == ["ResourceNotFoundException"]


def test_iso_millis_sorts_as_text():
    assert iso_millis(0) == "1970-01-01T00:00:00.000Z"
    assert iso_millis(1_000) < iso_millis(10_000)


def test_records_sqs_keeps_refusing_go_to_the_log_and_the_rest_are_spilled(prediction_log, ddb, sqs):
    class DeadBatches:
        def batch_write_item(self, **kw):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "BatchWriteItem")

    records = [_record(prediction_id=uuid7()) for _ in range(15)]
    poisoned = records[12].prediction_id

    class PickySqs:
        """SendMessageBatch that accepts every entry but one, whatever the attempt (two chunks here)."""

        def send_message_batch(self, QueueUrl, Entries):
            bad = [e for e in Entries if poisoned in e["MessageBody"]]
            good = [e for e in Entries if e not in bad]
            if good:
                sqs.send_message_batch(QueueUrl=QueueUrl, Entries=good)
            return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in bad]}

    kept = []
    prediction_log.dynamodb, prediction_log.sqs, prediction_log.on_last_resort = DeadBatches(), PickySqs(), kept.append
    out = prediction_log.write(records)
    assert (out.written, out.spilled, out.logged_only) == (0, 14, 1)
    assert [k["prediction_id"]["S"] for k in kept] == [poisoned]
    prediction_log.dynamodb, prediction_log.sqs = ddb, sqs
    assert prediction_log.replay_spilled() == {"replayed": 14, "failed": 0}
    assert prediction_log.get(poisoned) is None and prediction_log.get(records[0].prediction_id) is not None


def test_replay_leaves_a_message_it_cannot_read_in_the_queue(prediction_log, sqs):
    url = prediction_log.spill_queue_url
    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    assert prediction_log.replay_spilled() == {"replayed": 0, "failed": 1}
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_rejected_requests_expire_sooner_than_answered_ones_and_batch_items_follow_their_request():
    ms = 1_795_338_000_123
    answered = _record(prediction_id=uuid7(now_ms=ms), status=200, probability_good_credit=0.9)
    rejected = _record(prediction_id=uuid7(now_ms=ms), status=422, error_class="validation_error")
    failed = _record(prediction_id=uuid7(now_ms=ms), status=500, error_class="internal_error")
    items = to_items([answered, rejected, failed], 16, 762, rejected_ttl_days=30)
    assert [int(i["expires_at"]["N"]) - ms // 1000 for i in items] == [762 * 86400, 30 * 86400, 30 * 86400]
    # A batch's items carry their status in the fields they share.
    common = to_attributes({"status": 200, "route": "/predict-batch"})
    (item,) = to_items([{"prediction_id": uuid7(now_ms=ms), "batch_index": 0}], 16, 762, common, 30)
    assert int(item["expires_at"]["N"]) - ms // 1000 == 762 * 86400
    # Without a rejected TTL every record keeps the one TTL, as before.
    assert {i["expires_at"]["N"] for i in to_items([answered, rejected], 16, 90)} == {str(ms // 1000 + 90 * 86400)}


def test_a_window_read_reports_each_day_and_shard_read_up_to_all_of_them(prediction_log):
    start = datetime(2026, 3, 1, 22, tzinfo=UTC)
    prediction_log.write(
        [_record(prediction_id=uuid7(int((start + timedelta(hours=h)).timestamp() * 1000))) for h in range(4)]
    )
    seen: list[tuple[int, int]] = []
    rows = list(
        prediction_log.query_window(
            start, start + timedelta(hours=4), FullRow, progress=lambda d, t: seen.append((d, t))
        )
    )
    partitions = 2 * prediction_log.shards  # two UTC days
    assert len(rows) == 4 and seen == [(i, partitions) for i in range(1, partitions + 1)]
