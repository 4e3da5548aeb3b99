"""Idempotency-Key on /predict and /predict-batch, through the Lambda handler, with moto behind it."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_context import LambdaContext as Ctx

from creditwatch_predict.schemas import SEED_EXAMPLE


@pytest.fixture
def service(aws, prediction_log) -> Any:
    """The predict function as the template configures it (IDEMPOTENCY_TABLE included), on moto."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url})
    assert settings.idempotency_table == aws.ref("IdempotencyTable")
    return build(settings, AwsClients())


def keyed(event: Any, key: str | None, body: Any, name: str = "predict-valid.json") -> dict[str, Any]:
    ev = event(name)
    ev["body"] = body if isinstance(body, str) else json.dumps(body)
    if key is not None:
        ev["headers"]["idempotency-key"] = key
    return ev


def call(service: Any, ev: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    resp = service.handler(ev, Ctx())
    return resp["statusCode"], json.loads(resp["body"]), resp


def store_of(service: Any) -> Any:
    """The idempotency store the app was built with."""
    from creditwatch_predict.idempotency import IdempotencyMiddleware

    (store,) = [m.kwargs["store"] for m in service.app.user_middleware if m.cls is IdempotencyMiddleware]
    return store


def records(prediction_log) -> list[Any]:
    from creditwatch_common.records import FullRow

    now = datetime.now(UTC)
    return list(prediction_log.query_window(now - timedelta(minutes=2), now + timedelta(minutes=2), FullRow))


def test_local_stack_creates_the_idempotency_table_from_the_template(aws, ddb):
    table = ddb.describe_table(TableName=aws.ref("IdempotencyTable"))["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_a_retry_with_the_same_key_and_body_gets_the_same_answer_and_writes_no_second_record(
    service, event, prediction_log
):
    status, first, resp = call(service, keyed(event, "order-42", SEED_EXAMPLE))
    assert status == 200 and resp["headers"]["x-prediction-log"] == "written"
    status, again, resp = call(service, keyed(event, "order-42", SEED_EXAMPLE))
    assert status == 200 and again == first
    assert resp["headers"]["idempotent-replayed"] == "true" and resp["headers"]["x-prediction-log"] == "replayed"
    assert [r.prediction_id for r in records(prediction_log)] == [first["prediction_id"]]
    # Without the key, or with another, it is a new prediction.
    assert call(service, keyed(event, None, SEED_EXAMPLE))[1]["prediction_id"] != first["prediction_id"]
    assert call(service, keyed(event, "order-43", SEED_EXAMPLE))[1]["prediction_id"] != first["prediction_id"]
    assert len(records(prediction_log)) == 3


def test_a_batch_retry_gets_the_same_prediction_ids_even_when_the_answer_spans_several_items(
    service, event, prediction_log
):
    body = {"applications": [SEED_EXAMPLE] * 1000, "explain": True}
    status, first, _ = call(service, keyed(event, "batch-7", body, "predict-batch-valid.json"))
    assert status == 200
    status, again, resp = call(service, keyed(event, "batch-7", body, "predict-batch-valid.json"))
    assert status == 200 and resp["headers"]["idempotent-replayed"] == "true"
    assert [p["prediction_id"] for p in again["predictions"]] == [p["prediction_id"] for p in first["predictions"]]
    assert again == first
    assert len(records(prediction_log)) == 1001


def test_the_same_key_with_another_body_is_a_422(service, event, prediction_log):
    call(service, keyed(event, "order-42", SEED_EXAMPLE))
    status, body, _ = call(service, keyed(event, "order-42", {**SEED_EXAMPLE, "Credit amount": 9000.0}))
    assert status == 422 and body["error"]["code"] == "idempotency_key_reused"
    # Logged like every refusal.
    assert [r.error_class for r in records(prediction_log) if r.status == 422] == ["idempotency_key_reused"]


def test_a_concurrent_duplicate_gets_409_until_the_first_is_answered(service, event):
    from creditwatch_common.idempotency import fingerprint

    store = store_of(service)
    body = json.dumps(SEED_EXAMPLE)
    pk = store.item_key("/predict", "order-42")
    # The first request holds the key (claimed, not answered yet).
    assert store.claim(pk, fingerprint("POST", "/predict", b"", body.encode())).state == "claimed"
    status, answer, resp = call(service, keyed(event, "order-42", body))
    assert status == 409 and answer["error"]["code"] == "request_in_progress"
    assert resp["headers"]["retry-after"] == "1"


def test_a_refused_request_frees_its_key_for_the_corrected_retry(service, event):
    status, body, _ = call(service, keyed(event, "order-42", {**SEED_EXAMPLE, "Age in years": 7}))
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert call(service, keyed(event, "order-42", SEED_EXAMPLE))[0] == 200


def test_a_key_expires_after_the_window(service, event, prediction_log, monkeypatch):
    import time

    store = store_of(service)
    first = call(service, keyed(event, "order-42", SEED_EXAMPLE))[1]
    later = time.time() + store.window_s + 1
    monkeypatch.setattr(store, "clock", lambda: later)
    assert call(service, keyed(event, "order-42", SEED_EXAMPLE))[1]["prediction_id"] != first["prediction_id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "clé"])
def test_a_malformed_key_is_a_400(service, event, key):
    status, body, _ = call(service, keyed(event, key, SEED_EXAMPLE))
    assert status == 400 and body["error"]["code"] == "invalid_idempotency_key"


def test_the_store_keeps_no_client_key_and_no_body_in_clear(service, event, ddb, aws):
    call(service, keyed(event, "jane@example.com", SEED_EXAMPLE))
    items = ddb.scan(TableName=aws.ref("IdempotencyTable"))["Items"]
    assert len(items) == 1 and "jane@example.com" not in json.dumps(items, default=str)
