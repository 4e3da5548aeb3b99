"""POST /outcomes under real faults: DynamoDB hanging, or behind a proxy that resets and throttles.

The predict function is built as its handler builds it, on a moto server in a thread (with the local
stack's transaction patch), DynamoDB reached through `AWS_ENDPOINT_URL_DYNAMODB`. An outcome that
cannot be stored is never answered as stored: the request gets a 503 naming it, and the client's
retry stores it exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from conftest import TEST_PARAMETERS
from faults import FaultProxy, HangingServer, threaded_moto
from lambda_context import LambdaContext

from creditwatch.local.resources import create_resources
from creditwatch.local.template import Template
from creditwatch_common.aws import AwsClients
from creditwatch_common.log import PredictionLog
from creditwatch_common.outcomes import outcome_partition_key
from creditwatch_common.records import LogRecord
from creditwatch_predict.app import PredictService, build
from creditwatch_predict.settings import PredictSettings

REGION = "us-east-1"
REMAINING_S = 8.0


def aws_client(service: str, endpoint: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client(service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}))


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with threaded_moto() as url:
        yield url


@pytest.fixture(scope="module")
def log(moto_server: str) -> PredictionLog:
    template = Template(endpoint=moto_server, overrides=TEST_PARAMETERS)
    create_resources(template, lambda service: aws_client(service, moto_server), webhook_url="http://127.0.0.1:9/")
    sqs = aws_client("sqs", moto_server)
    return PredictionLog(
        dynamodb=aws_client("dynamodb", moto_server),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        sqs=sqs,
        spill_queue_url=sqs.get_queue_url(QueueName=template.physical_name("SpillQueue"))["QueueUrl"],
    )


@pytest.fixture
def service(moto_server: str, log: PredictionLog, model: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    def make(dynamodb: str | None = None) -> PredictService:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb or moto_server)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_server)
        # Short client timeouts, as a tight deployment would set them: the test runs in seconds.
        settings = PredictSettings().model_copy(
            update={"spill_queue_url": log.spill_queue_url, "aws_connect_timeout_s": 0.5, "aws_read_timeout_s": 0.5}
        )
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return build(settings, AwsClients(session), model=model)

    return make


def post(
    svc: PredictService, event: Any, pids: list[str], outcome: str = "bad"
) -> tuple[int, Any, dict[str, str], float]:
    ev = event("outcomes-valid.json")
    now = datetime.now(UTC).isoformat()
    ev["body"] = json.dumps({"outcomes": [{"prediction_id": p, "outcome": outcome, "observed_at": now} for p in pids]})
    started = time.monotonic()
    resp = svc.handler(ev, LambdaContext(remaining_s=REMAINING_S, request_id="fault"))
    headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
    return resp["statusCode"], json.loads(resp["body"]), headers, time.monotonic() - started


def predictions(log: PredictionLog, n: int) -> list[str]:
    records = [
        LogRecord(
            request_id="r",
            kind="application",
            route="/predict-batch",
            status=200,
            latency_ms=1.0,
            model_version="v1",
            probability_good_credit=0.3,
            prediction=0,
            decision="refuse",
            risk_level="HIGH",
        )
        for _ in range(n)
    ]
    log.write(records)
    return [r.prediction_id for r in records]


def state(log: PredictionLog, pids: list[str]) -> tuple[dict[str, str | None], dict[str, int]]:
    """Each prediction's stored outcome, and how many outcome events each has."""
    outcomes = {}
    for p in pids:
        item = log.get(p)
        assert item is not None
        raw = log.dynamodb.get_item(TableName=log.table, Key={"pk": {"S": item.pk}, "sk": {"S": item.sk}})["Item"]
        outcomes[p] = raw.get("outcome", {}).get("S")
    day = datetime.now(UTC).date().isoformat()
    counts = dict.fromkeys(pids, 0)
    for shard in range(log.shards):
        for e in log.dynamodb.query(
            TableName=log.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": outcome_partition_key(day, shard)}},
        )["Items"]:
            if e["prediction_id"]["S"] in counts:
                counts[e["prediction_id"]["S"]] += 1
    return outcomes, counts


def test_dynamodb_hanging_gets_a_503_in_time_and_the_retry_stores_each_outcome_once(service, log, event, capsys):
    pids = predictions(log, 5)
    with HangingServer() as hanging:
        status, body, headers, elapsed = post(service(hanging.url), event, pids)
    with capsys.disabled():
        print(f"\nDynamoDB hanging: {status} {body['error']['code']} in {elapsed:.2f} s of {REMAINING_S:.0f} s")
    assert status == 503 and body["error"]["code"] == "outcomes_unavailable"
    assert headers["retry-after"] == "1" and elapsed < REMAINING_S
    assert [d["location"] for d in body["error"]["details"]] == [["body", "outcomes", i] for i in range(5)]
    # The request's own log record was not lost either: DynamoDB hung, so it went to the spill queue.
    assert headers["x-prediction-log"] == "spilled"
    assert state(log, pids) == ({p: None for p in pids}, dict.fromkeys(pids, 0))
    # The client sends again after Retry-After (again, should a loaded host answer 503 once more).
    for _ in range(3):
        status, body, _, _ = post(service(), event, pids)
        if status != 503:
            break
    assert status == 200 and body["counts"]["recorded"] == 5
    assert state(log, pids) == ({p: "bad" for p in pids}, dict.fromkeys(pids, 1))


def test_resets_and_throttling_are_retried_and_no_outcome_is_lost_or_doubled(service, log, event, capsys):
    pids = predictions(log, 30)
    answers = []
    with FaultProxy(log.dynamodb.meta.endpoint_url, seed=7) as proxy:
        svc = service(proxy.url)
        proxy.inject("TransactWriteItems", "reset", probability=0.4)
        proxy.inject("BatchGetItem", "throttle", probability=0.3)
        for _ in range(5):
            status, body, _, elapsed = post(svc, event, pids)
            answers.append((status, round(elapsed, 2)))
            if status == 200:
                break
        faulted = proxy.stats("TransactWriteItems").faulted
    with capsys.disabled():
        print(f"\nresets p=0.4, throttles p=0.3: answers {answers}, TransactWriteItems faulted {faulted}")
    assert faulted > 0 and answers[-1][0] == 200
    assert all(elapsed < REMAINING_S for _, elapsed in answers)
    # Whatever the attempts answered, each outcome is stored once, with one event.
    assert state(log, pids) == ({p: "bad" for p in pids}, dict.fromkeys(pids, 1))
    assert {r["status"] for r in body["results"]} <= {"recorded", "unchanged"}
