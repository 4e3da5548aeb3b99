"""OutcomeWriter on moto: races between writers, a transaction that commits but answers with an error, deadlines."""

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from creditwatch_common.ids import uuid7
from creditwatch_common.log.keys import key_attributes, keys_for
from creditwatch_common.log.outcomes import OutcomeInput, OutcomeWriter
from creditwatch_common.outcomes import outcome_partition_key
from creditwatch_common.records import LogRecord


def scored(prediction_log: Any) -> str:
    record = LogRecord(
        request_id="r",
        route="/predict",
        status=200,
        latency_ms=1.0,
        model_version="v1",
        probability_good_credit=0.4,
        prediction=0,
        decision="refuse",
        risk_level="HIGH",
    )
    prediction_log.write([record])
    return record.prediction_id


def writer(prediction_log: Any, dynamodb: Any = None, **over: Any) -> OutcomeWriter:
    return OutcomeWriter(
        dynamodb=dynamodb or prediction_log.dynamodb,
        table=prediction_log.table,
        shards=prediction_log.shards,
        sleep=lambda _s: None,
        **over,
    )


def outcome(pid: str, value: str = "good", correction: bool = False) -> OutcomeInput:
    return OutcomeInput(pid, value, datetime.now(UTC), correction)  # type: ignore[arg-type]


def stored(prediction_log: Any, pid: str) -> dict[str, Any]:
    key = key_attributes(keys_for(pid, prediction_log.shards))
    item: dict[str, Any] = prediction_log.dynamodb.get_item(TableName=prediction_log.table, Key=key)["Item"]
    return item


def events(prediction_log: Any) -> list[dict[str, Any]]:
    day = datetime.now(UTC).date().isoformat()
    found: list[dict[str, Any]] = []
    for shard in range(prediction_log.shards):
        found += prediction_log.dynamodb.query(
            TableName=prediction_log.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": outcome_partition_key(day, shard)}},
        )["Items"]
    return found


class Racing:
    """A client whose first transaction is preceded by another writer's outcome for the same prediction."""

    def __init__(self, real: Any, before: Any) -> None:
        self.real, self.before, self.calls = real, before, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.before()
        return self.real.transact_write_items(**kwargs)


def test_another_writer_between_read_and_write_makes_it_a_conflict_decided_on_fresh_state(prediction_log):
    pid = scored(prediction_log)
    other = writer(prediction_log)
    racing = Racing(prediction_log.dynamodb, lambda: other.record([outcome(pid, "bad")]))
    (result,) = writer(prediction_log, racing).record([outcome(pid, "good")])
    # Our conditional write failed (the item had changed), the item was read again: a conflict, unchanged.
    assert (result.status, result.outcome) == ("conflict", "bad") and racing.calls == 1
    assert stored(prediction_log, pid)["outcome"] == {"S": "bad"}
    assert [e["outcome"]["S"] for e in events(prediction_log)] == ["bad"]


def test_a_correction_racing_another_correction_replaces_only_what_it_read(prediction_log):
    pid = scored(prediction_log)
    writer(prediction_log).record([outcome(pid, "good")])
    other = writer(prediction_log)
    racing = Racing(prediction_log.dynamodb, lambda: other.record([outcome(pid, "bad", correction=True)]))
    (result,) = writer(prediction_log, racing).record([outcome(pid, "bad", correction=True)])
    # The other correction got there first with the same value: ours is then a no-op.
    assert result.status == "unchanged"
    history = stored(prediction_log, pid)["outcome_history"]["L"]
    assert [h["M"]["outcome"]["S"] for h in history] == ["good"]
    assert sorted(e["outcome"]["S"] for e in events(prediction_log)) == ["bad", "good"]


class CommitsThenTimesOut:
    """A client whose first transaction commits but whose answer is lost (a read timeout)."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.calls += 1
        answer = self.real.transact_write_items(**kwargs)
        if self.calls == 1:
            raise ReadTimeoutError(endpoint_url="http://dynamodb")
        return answer


def test_a_write_that_committed_but_timed_out_is_recognised_as_ours_and_not_written_twice(prediction_log):
    pid = scored(prediction_log)
    client = CommitsThenTimesOut(prediction_log.dynamodb)
    (result,) = writer(prediction_log, client).record([outcome(pid, "bad")])
    assert (result.status, result.outcome) == ("recorded", "bad") and client.calls == 1
    assert len(events(prediction_log)) == 1


def test_with_no_time_left_every_outcome_is_unavailable_and_nothing_is_written(prediction_log):
    pids = [scored(prediction_log) for _ in range(3)]
    results = writer(prediction_log, call_timeout_s=3.0).record([outcome(p) for p in pids], deadline=0.0)
    assert [r.status for r in results] == ["unavailable"] * 3
    assert events(prediction_log) == [] and all("outcome" not in stored(prediction_log, p) for p in pids)


def test_ids_must_be_distinct_in_one_call(prediction_log):
    pid = uuid7()
    with pytest.raises(ValueError, match="distinct"):
        writer(prediction_log).record([outcome(pid), outcome(pid, "bad")])


def test_more_than_a_hundred_outcomes_are_read_in_batches_and_answered_in_order(prediction_log):
    pids = [scored(prediction_log) for _ in range(150)] + [uuid7() for _ in range(60)]
    results = writer(prediction_log).record([outcome(p, "bad") for p in pids])
    assert [r.prediction_id for r in results] == pids
    assert [r.status for r in results] == ["recorded"] * 150 + ["unknown_prediction"] * 60
    assert len(events(prediction_log)) == 150
