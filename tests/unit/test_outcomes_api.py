"""POST /outcomes through the predict function's Lambda handler, on the events of events/, with moto behind it."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from lambda_context import LambdaContext as Ctx

from creditwatch_common.ids import uuid7
from creditwatch_common.log.keys import key_attributes, keys_for
from creditwatch_common.outcomes import outcome_partition_key
from creditwatch_common.records import FullRow, LogRecord

# The predictions events/outcomes-*.json refer to (made 2026-11-22T09:00:00Z, the events' own time).
EVENT_IDS = ("01a2027b-d680-7a3c-8d2e-5b7c9e1f4a60", "01a2027b-d680-7b41-9c0d-3e6f8a2b5c71")


def call(handler, event):
    resp = handler.handler(event, Ctx())
    return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None


def scored(prediction_log, prediction_id=None, status=200):
    """A logged prediction (a scored single request), or a rejected request when status >= 400."""
    fields = {"prediction_id": prediction_id or uuid7(), "request_id": "r", "route": "/predict", "status": status}
    if status < 400:
        fields |= {"probability_good_credit": 0.8, "prediction": 1, "decision": "approve", "risk_level": "LOW"}
    record = LogRecord(latency_ms=1.0, model_version="v1", features={"age_in_years": 35}, **fields)
    prediction_log.write([record])
    return record.prediction_id


def batch_applications(prediction_log, ids):
    """Scored applications of a batch request, one per id, in the log."""
    prediction_log.write(
        [
            LogRecord(
                prediction_id=i,
                request_id="r",
                kind="application",
                route="/predict-batch",
                status=200,
                latency_ms=1,
                model_version="v1",
                probability_good_credit=0.7,
                prediction=1,
                decision="approve",
                risk_level="LOW",
            )
            for i in ids
        ]
    )


def post(handler, event, outcomes, request_id="evt-outcomes-valid"):
    ev = event("outcomes-valid.json")
    ev["body"] = json.dumps({"outcomes": outcomes})
    ev["requestContext"]["requestId"] = request_id
    return call(handler, ev)


def item(prediction_log, prediction_id):
    key = key_attributes(keys_for(prediction_id, prediction_log.shards))
    return prediction_log.dynamodb.get_item(TableName=prediction_log.table, Key=key)["Item"]


def events_of(prediction_log, day):
    items = []
    for shard in range(prediction_log.shards):
        resp = prediction_log.dynamodb.query(
            TableName=prediction_log.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": outcome_partition_key(day, shard)}},
        )
        items += resp["Items"]
    return items


def now_iso():
    return datetime.now(UTC).isoformat()


def test_the_valid_event_records_each_outcome_once_and_says_so(handler, event, prediction_log):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    status, body = call(handler, event("outcomes-valid.json"))
    assert status == 200
    assert body["results"] == [
        {"prediction_id": EVENT_IDS[0], "status": "recorded", "outcome": "good"},
        {"prediction_id": EVENT_IDS[1], "status": "recorded", "outcome": "bad"},
    ]
    assert body["counts"] == {"recorded": 2, "unchanged": 0, "conflict": 0, "corrected": 0, "unknown_prediction": 0}
    stored = item(prediction_log, EVENT_IDS[0])
    assert stored["outcome"] == {"S": "good"} and stored["outcome_observed_at"] == {"S": "2026-11-26T12:00:00.000Z"}
    assert "outcome_history" not in stored
    # The append-only event, on the day it was recorded (today), not the prediction's day.
    today = datetime.now(UTC).date().isoformat()
    events = events_of(prediction_log, today)
    assert sorted(e["prediction_id"]["S"] for e in events) == sorted(EVENT_IDS)
    assert all(e["schema_version"] == {"N": "1"} and e["correction"] == {"BOOL": False} for e in events)


def test_the_same_outcome_again_is_unchanged_and_writes_no_second_event(handler, event, prediction_log):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    call(handler, event("outcomes-valid.json"))
    status, body = call(handler, event("outcomes-valid.json"))
    assert status == 200 and [r["status"] for r in body["results"]] == ["unchanged", "unchanged"]
    assert len(events_of(prediction_log, datetime.now(UTC).date().isoformat())) == 2


def test_a_different_outcome_is_a_conflict_that_changes_nothing(handler, event, prediction_log):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    call(handler, event("outcomes-valid.json"))
    before = item(prediction_log, EVENT_IDS[0])
    status, body = call(handler, event("outcomes-conflict.json"))
    assert status == 200
    assert body["results"] == [{"prediction_id": EVENT_IDS[0], "status": "conflict", "outcome": "good"}]
    assert body["counts"]["conflict"] == 1
    assert item(prediction_log, EVENT_IDS[0]) == before


def test_a_correction_replaces_the_outcome_and_keeps_the_old_one_in_the_history(handler, event, prediction_log):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    call(handler, event("outcomes-valid.json"))
    first = item(prediction_log, EVENT_IDS[0])
    status, body = call(handler, event("outcomes-correction.json"))
    assert status == 200
    assert body["results"] == [{"prediction_id": EVENT_IDS[0], "status": "corrected", "outcome": "bad"}]
    stored = item(prediction_log, EVENT_IDS[0])
    assert stored["outcome"] == {"S": "bad"}
    (old,) = stored["outcome_history"]["L"]
    assert old["M"]["outcome"] == {"S": "good"}
    assert old["M"]["recorded_at"] == first["outcome_recorded_at"]
    assert old["M"]["observed_at"] == {"S": "2026-11-26T12:00:00.000Z"}
    # A second correction keeps both earlier values, oldest first.
    _, body = post(
        handler,
        event,
        [{"prediction_id": EVENT_IDS[0], "outcome": "good", "observed_at": now_iso(), "correction": True}],
    )
    assert body["results"][0]["status"] == "corrected"
    history = item(prediction_log, EVENT_IDS[0])["outcome_history"]["L"]
    assert [h["M"]["outcome"]["S"] for h in history] == ["good", "bad"]
    corrections = [
        e for e in events_of(prediction_log, datetime.now(UTC).date().isoformat()) if e["correction"]["BOOL"]
    ]
    assert sorted(e["previous"]["S"] for e in corrections) == ["bad", "good"]


def test_unknown_and_rejected_request_ids_are_unknown_predictions(handler, event, prediction_log):
    rejected = scored(prediction_log, status=422)
    never = uuid7()
    status, body = post(
        handler,
        event,
        [
            {"prediction_id": never, "outcome": "good", "observed_at": now_iso()},
            {"prediction_id": rejected, "outcome": "bad", "observed_at": now_iso()},
        ],
    )
    assert status == 200
    assert [(r["status"], r["outcome"]) for r in body["results"]] == [("unknown_prediction", None)] * 2
    # Nothing created: no item for the unknown id, no outcome on the rejected request.
    key = key_attributes(keys_for(never, prediction_log.shards))
    assert "Item" not in prediction_log.dynamodb.get_item(TableName=prediction_log.table, Key=key)
    assert "outcome" not in item(prediction_log, rejected)


def test_a_batch_request_item_is_not_a_prediction_but_its_applications_are(handler, event, prediction_log):
    ev = event("predict-batch-valid.json")
    answer = json.loads(handler.handler(ev, Ctx())["body"])
    now = datetime.now(UTC)
    request = next(
        r
        for r in prediction_log.query_window(now - timedelta(minutes=1), now + timedelta(minutes=1), FullRow)
        if r.kind == "request"
    )
    sent = [
        {"prediction_id": p["prediction_id"], "outcome": "good", "observed_at": now_iso()}
        for p in answer["predictions"]
    ]
    sent.append({"prediction_id": request.prediction_id, "outcome": "good", "observed_at": now_iso()})
    _, body = post(handler, event, sent)
    assert [r["status"] for r in body["results"]] == ["recorded"] * 3 + ["unknown_prediction"]


def test_a_thousand_outcomes_are_accepted_and_a_thousand_and_one_are_413(handler, event, prediction_log):
    ids = [uuid7() for _ in range(1000)]
    batch_applications(prediction_log, ids[:900])
    outcomes = [{"prediction_id": i, "outcome": "bad", "observed_at": now_iso()} for i in ids]
    status, body = post(handler, event, outcomes)
    assert status == 200 and len(body["results"]) == 1000
    assert body["counts"]["recorded"] == 900 and body["counts"]["unknown_prediction"] == 100
    assert [r["prediction_id"] for r in body["results"]] == ids
    status, body = post(
        handler, event, [*outcomes, {"prediction_id": uuid7(), "outcome": "bad", "observed_at": now_iso()}]
    )
    assert status == 413 and body["error"]["code"] == "batch_too_large"
    assert "1000" in body["error"]["message"]


def test_the_invalid_event_gets_a_precise_422_naming_each_field(handler, event, prediction_log):
    status, body = call(handler, event("outcomes-invalid.json"))
    assert status == 422 and body["error"]["code"] == "validation_error"
    by_field = {d["field"]: d for d in body["error"]["details"]}
    assert by_field["prediction_id"]["location"] == ["body", "outcomes", 0, "prediction_id"]
    assert by_field["prediction_id"]["type"] == "string_pattern_mismatch"
    assert by_field["outcome"]["type"] == "literal_error" and by_field["outcome"]["allowed"] == ["good", "bad"]
    # The request is logged as a rejected outcomes request, field names kept (they are ours), no values.
    now = datetime.now(UTC)
    (record,) = [
        r for r in prediction_log.query_window(now - timedelta(minutes=1), now + timedelta(minutes=1), FullRow)
    ]
    assert record.route == "/outcomes" and record.status == 422 and record.decision is None
    assert {r.field for r in record.rejected_fields} == {"prediction_id", "outcome"}


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"observed_at": "2026-11-26T12:00:00"}, "observed_at", "timezone_aware"),
        ({"observed_at": "yesterday"}, "observed_at", "datetime_from_date_parsing"),
        ({"correction": "yes"}, "correction", "bool_type"),
        ({"prediction_id": "0" * 36}, "prediction_id", "string_pattern_mismatch"),
        ({"extra": 1}, "extra", "extra_forbidden"),
    ],
)
def test_each_malformed_field_is_a_422(handler, event, prediction_log, change, field, kind):
    sent = {"prediction_id": uuid7(), "outcome": "good", "observed_at": now_iso(), **change}
    status, body = post(handler, event, [sent])
    assert status == 422
    assert [(d["field"], d["type"]) for d in body["error"]["details"]] == [(field, kind)]


def test_observed_at_in_the_future_or_before_the_prediction_is_a_422_and_nothing_is_written(
    handler, event, prediction_log
):
    pid = scored(prediction_log)
    good = {"prediction_id": scored(prediction_log), "outcome": "good", "observed_at": now_iso()}
    future = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    before = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    status, body = post(
        handler,
        event,
        [
            good,
            {"prediction_id": pid, "outcome": "good", "observed_at": future},
            {"prediction_id": uuid7(), "outcome": "bad", "observed_at": before},
        ],
    )
    assert status == 422
    assert [(d["location"], d["type"]) for d in body["error"]["details"]] == [
        (["body", "outcomes", 1, "observed_at"], "in_future"),
        (["body", "outcomes", 2, "observed_at"], "before_prediction"),
    ]
    assert "outcome" not in item(prediction_log, good["prediction_id"])
    # Within the 5 minutes of clock skew both ways: accepted.
    skewed = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    assert post(handler, event, [{"prediction_id": pid, "outcome": "good", "observed_at": skewed}])[0] == 200


def test_an_id_sent_twice_in_one_request_is_a_422(handler, event, prediction_log):
    pid = scored(prediction_log)
    status, body = post(
        handler,
        event,
        [
            {"prediction_id": pid, "outcome": "good", "observed_at": now_iso()},
            {"prediction_id": pid.upper(), "outcome": "bad", "observed_at": now_iso()},
        ],
    )
    assert status == 422
    (detail,) = body["error"]["details"]
    assert detail["location"] == ["body", "outcomes", 1, "prediction_id"] and detail["type"] == "duplicate"
    assert "outcome" not in item(prediction_log, pid)


def test_outcome_requests_get_their_own_metrics_not_the_scoring_ones(handler, event, prediction_log, capsys):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    capsys.readouterr()
    call(handler, event("outcomes-valid.json"))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for b in blobs for d in b["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"OutcomeRequests", "OutcomeLatency", "OutcomesRecorded", "OutcomeConflicts", "OutcomeServerErrors"} <= names
    assert not names & {"Requests", "Latency", "ServerErrors", "ClientErrors", "Predictions"}
    assert (
        sum(
            b.get("OutcomesRecorded", [0])[0]
            if isinstance(b.get("OutcomesRecorded"), list)
            else b.get("OutcomesRecorded", 0)
            for b in blobs
        )
        == 2
    )


def test_an_idempotency_key_replays_the_first_answer(handler, event, prediction_log):
    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    ev = event("outcomes-valid.json")
    ev["headers"]["idempotency-key"] = "outcomes-2026-11-26-a"
    first = handler.handler(ev, Ctx())
    again = handler.handler(ev, Ctx())
    assert json.loads(again["body"]) == json.loads(first["body"])
    assert [r["status"] for r in json.loads(again["body"])["results"]] == ["recorded", "recorded"]
    assert again["headers"].get("idempotent-replayed") == "true"


def test_log_erase_also_deletes_the_outcome_events_of_the_id(handler, event, prediction_log):
    from creditwatch import lookups

    for pid in EVENT_IDS:
        scored(prediction_log, pid)
    call(handler, event("outcomes-valid.json"))
    call(handler, event("outcomes-correction.json"))
    erased = lookups.erase(prediction_log, EVENT_IDS[0])
    assert erased["erased"] and erased["outcome_events_erased"] == 2
    # The other prediction's event stays.
    remaining = events_of(prediction_log, datetime.now(UTC).date().isoformat())
    assert [e["prediction_id"]["S"] for e in remaining] == [EVENT_IDS[1]]


def test_off_lambda_as_creditwatch_serve_a_thousand_outcomes_get_the_routes_own_budget(handler, prediction_log):
    from fastapi.testclient import TestClient

    ids = [uuid7() for _ in range(1000)]
    batch_applications(prediction_log, ids)
    client = TestClient(handler.app)
    sent = {"outcomes": [{"prediction_id": i, "outcome": "good", "observed_at": now_iso()} for i in ids]}
    resp = client.post("/outcomes", json=sent)
    body = resp.json()
    # Recorded within the route's own budget; on a loaded host a handful may be answered `unavailable`
    # instead (to be sent again), never lost: every outcome is in the answer as one or the other.
    statuses = {r["prediction_id"]: r["status"] for r in body["results"]}
    assert resp.status_code == 200 and body["counts"]["recorded"] >= 950
    assert set(statuses) == set(ids) and set(statuses.values()) <= {"recorded", "unavailable"}
    assert resp.headers["x-prediction-log"] == "written"
