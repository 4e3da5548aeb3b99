"""`creditwatch log erase` reaches every copy of a record it can, and names every other store of the stack with why."""

import json
from typing import Any

import pytest
from lambda_context import LambdaContext as Ctx

from creditwatch import lookups
from creditwatch.local.template import Template
from creditwatch_predict.schemas import SEED_EXAMPLE

STORE_TYPES = ("AWS::DynamoDB::Table", "AWS::S3::Bucket")


@pytest.fixture
def service(aws, prediction_log) -> Any:
    """The predict function as the template configures it (IDEMPOTENCY_TABLE included), on moto."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url})
    return build(settings, AwsClients())


def post(service: Any, event: Any, name: str, body: Any, key: str | None) -> tuple[int, dict[str, Any], Any]:
    ev = event(name)
    ev["body"] = json.dumps(body)
    if key is not None:
        ev["headers"]["idempotency-key"] = key
    resp = service.handler(ev, Ctx())
    return resp["statusCode"], json.loads(resp["body"]), resp


def idempotency_items(ddb: Any, aws: Any) -> list[dict[str, Any]]:
    return list(ddb.scan(TableName=aws.ref("IdempotencyTable"))["Items"])


def test_erase_deletes_the_kept_answer_of_the_records_request_and_a_retry_scores_anew(
    aws, ddb, prediction_log, service, event
):
    status, first, _ = post(service, event, "predict-valid.json", SEED_EXAMPLE, "key-1")
    assert status == 200 and len(idempotency_items(ddb, aws)) == 1
    erased = lookups.erase(prediction_log, first["prediction_id"])
    assert erased["stores"]["IdempotencyTable"] == {
        "reached": True,
        "table": aws.ref("IdempotencyTable"),
        "items_deleted": 1,
    }
    assert idempotency_items(ddb, aws) == []
    # The retry is not answered from an erased copy: it is scored (and logged) again.
    status, again, resp = post(service, event, "predict-valid.json", SEED_EXAMPLE, "key-1")
    assert status == 200 and again["prediction_id"] != first["prediction_id"]
    assert "idempotent-replayed" not in resp.get("headers", {})


def test_erasing_one_application_of_a_keyed_batch_deletes_the_batchs_kept_answer(
    aws, ddb, prediction_log, service, event
):
    status, batch, _ = post(service, event, "predict-batch-valid.json", {"applications": [SEED_EXAMPLE] * 3}, "b-1")
    assert status == 200 and len(idempotency_items(ddb, aws)) == 1
    erased = lookups.erase(prediction_log, batch["predictions"][1]["prediction_id"])
    assert erased["erased"] and erased["stores"]["IdempotencyTable"]["items_deleted"] == 1
    assert idempotency_items(ddb, aws) == []


def test_a_record_sent_without_a_key_names_no_idempotency_item(aws, prediction_log, service, event):
    _, first, _ = post(service, event, "predict-valid.json", SEED_EXAMPLE, None)
    record = prediction_log.get(first["prediction_id"])
    assert record is not None and record.idempotency_pk is None
    erased = lookups.erase(prediction_log, first["prediction_id"])
    assert erased["stores"]["IdempotencyTable"]["items_deleted"] == 0


def test_every_table_and_bucket_of_the_template_is_reached_by_erase_or_named_with_why(
    aws, prediction_log, service, event
):
    _, first, _ = post(service, event, "predict-valid.json", SEED_EXAMPLE, "key-2")
    erased = lookups.erase(prediction_log, first["prediction_id"], lake_s3=None, lake_bucket=None)
    stores = {name for name, r in Template().resources.items() if r["Type"] in STORE_TYPES}
    assert stores <= set(erased["stores"]), stores - set(erased["stores"])
    for name in stores:
        place = erased["stores"][name]
        assert place["reached"] or len(place.get("why", "")) > 20, (name, place)
    assert erased["stores"]["PredictionsTable"]["reached"] and erased["stores"]["IdempotencyTable"]["reached"]
