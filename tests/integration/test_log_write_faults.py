"""The prediction log's write path under real faults: DynamoDB and SQS behind hanging servers and a fault proxy.

The predict function is built as its handler builds it (`app.build`), on a real moto server with the
template's table and queues; a fault sits in front of one service by giving that service its own
endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`), so botocore meets it over a socket.
Nothing in the code under test is patched. Each case checks the answer (status, `x-prediction-log`),
where every record went (table, spill queue, last-resort log line), and the time the answer took
against the Lambda context's remaining time.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faults import FaultProxy, HangingServer, ResettingServer, threaded_moto
from lambda_context import LambdaContext

from creditwatch.local.resources import create_resources
from creditwatch.local.template import Template
from creditwatch_common.aws import AwsClients
from creditwatch_common.log import PredictionLog
from creditwatch_predict.app import PredictService, build
from creditwatch_predict.schemas import SEED_EXAMPLE
from creditwatch_predict.settings import PredictSettings

REGION = "us-east-1"
# A Lambda with little time left: the log write must give way in time for the answer.
REMAINING_S = 8.0
LAST_RESORT = "prediction log record kept in logs only"


def aws_client(service: str, endpoint: str) -> Any:
    """A client of the test itself (setup and inspection), straight to moto."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client(
        service, endpoint_url=endpoint, config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
    )


@dataclass
class Stack:
    """The moto server with the template's resources, and what the tests read back from it."""

    endpoint: str
    table: str
    queue_url: str
    shards: int
    ddb: Any = None
    sqs: Any = None

    def empty(self) -> None:
        """Empty the table and the spill queue: each test starts from nothing."""
        for start in range(0, len(items := self.table_items(records_only=False)), 25):
            deletes = [{"DeleteRequest": {"Key": {k: i[k] for k in ("pk", "sk")}}} for i in items[start : start + 25]]
            self.ddb.batch_write_item(RequestItems={self.table: deletes})
        # Received and deleted (PurgeQueue is allowed once a minute).
        while messages := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def table_items(self, records_only: bool = True) -> list[dict[str, Any]]:
        """Every record of the prediction log table (a Scan: fine on a test table); with records_only=False,
        the replay's marks of hours for the lake export (log/pending.py) too."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.ddb.scan(**kwargs)
            items.extend(i for i in page["Items"] if not records_only or i["pk"]["S"].startswith("LOG#"))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def spilled_items(self) -> list[dict[str, Any]]:
        """Every record waiting in the spill queue, left there for the replay (made visible again)."""
        items: list[dict[str, Any]] = []
        handles: list[str] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=300
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                items.append(json.loads(message["Body"]))
                handles.append(message["ReceiptHandle"])
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        return items

    def prediction_log(self) -> PredictionLog:
        """The log as `creditwatch replay-spill` opens it, straight on moto."""
        return PredictionLog(
            dynamodb=self.ddb, table=self.table, shards=self.shards, sqs=self.sqs, spill_queue_url=self.queue_url
        )


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server in a thread on a free port."""
    with threaded_moto() as url:
        yield url


@pytest.fixture(scope="module")
def moto_stack(moto_server: str) -> Stack:
    """The template's resources in the moto server, as `creditwatch local up` creates them."""
    template = Template(endpoint=moto_server)
    create_resources(template, lambda service: aws_client(service, moto_server), webhook_url="http://127.0.0.1:9/")
    ddb, sqs = aws_client("dynamodb", moto_server), aws_client("sqs", moto_server)
    queue_url = sqs.get_queue_url(QueueName=template.physical_name("SpillQueue"))["QueueUrl"]
    return Stack(
        moto_server, template.ref("PredictionsTable"), queue_url, int(template.parameters["LogShards"]), ddb, sqs
    )


@pytest.fixture
def stack(moto_stack: Stack) -> Stack:
    moto_stack.empty()
    return moto_stack


@dataclass
class Answer:
    status: int
    where: str | None
    body: Any
    elapsed_s: float


def call(service: PredictService, event: dict[str, Any], remaining_s: float = REMAINING_S) -> Answer:
    context = LambdaContext(remaining_s=remaining_s, request_id=event["requestContext"]["requestId"])
    started = time.monotonic()
    resp = service.handler(event, context)
    elapsed = time.monotonic() - started
    headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
    body = json.loads(resp["body"]) if resp.get("body") else None
    return Answer(resp["statusCode"], headers.get("x-prediction-log"), body, elapsed)


@dataclass
class Logs:
    """What the function printed: last-resort records and EMF metrics, read from captured stdout."""

    last_resort: list[dict[str, Any]] = field(default_factory=list)
    metrics: Counter[str] = field(default_factory=Counter)


def read_stdout(out: str) -> Logs:
    logs = Logs()
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("message") == LAST_RESORT:
            logs.last_resort.append(entry["log_record"])
        for directive in entry.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                value = entry[metric["Name"]]
                logs.metrics[metric["Name"]] += sum(value) if isinstance(value, list) else value
    return logs


def ids(items: list[dict[str, Any]], request_id: str) -> list[str]:
    """The prediction ids of one request's records among DynamoDB-shaped items."""
    return sorted(i["prediction_id"]["S"] for i in items if i["request_id"]["S"] == request_id)


@pytest.fixture
def service(stack: Stack, model: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., PredictService]:
    """Builds the predict function with DynamoDB and SQS at the endpoints given (moto by default)."""

    def make(dynamodb: str | None = None, sqs: str | None = None) -> PredictService:
        # Per-service endpoints, as boto3 resolves them: the fault sits in front of one service only.
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb or stack.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", sqs or stack.endpoint)
        settings = PredictSettings().model_copy(update={"spill_queue_url": stack.queue_url})
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        built = build(settings, AwsClients(session), model=model)
        # Lambda sends the function's stdout to CloudWatch Logs; here it is pytest's capture. Powertools
        # keeps the stream of the first Logger of the service (built by an earlier test, whose
        # capture is gone), so the handler is pointed at this test's stdout (setStream would flush
        # the closed one first).
        built.obs.logger.registered_handler.stream = sys.stdout  # type: ignore[attr-defined]
        return built

    return make


def single_event(event: Callable[[str], dict[str, Any]], request_id: str) -> dict[str, Any]:
    ev = event("predict-valid.json")
    ev["requestContext"]["requestId"] = request_id
    return ev


def batch_event(event: Callable[[str], dict[str, Any]], request_id: str, size: int) -> dict[str, Any]:
    ev = event("predict-batch-valid.json")
    ev["requestContext"]["requestId"] = request_id
    ev["body"] = json.dumps({"applications": [{**SEED_EXAMPLE, "Credit amount": 1000.0 + i} for i in range(size)]})
    return ev


BATCH_SIZE = 20
ROUTES = ["/predict", "/predict-batch"]


def request(event: Callable[[str], dict[str, Any]], route: str, request_id: str) -> dict[str, Any]:
    """A valid request on `route`: one application, or a batch of BATCH_SIZE."""
    if route == "/predict":
        return single_event(event, request_id)
    return batch_event(event, request_id, BATCH_SIZE)


@dataclass
class Whereabouts:
    """Where one request's records are: prediction ids in the table, in the spill queue, in the log."""

    table: list[str]
    spilled: list[str]
    logged: list[str]
    kinds: Counter[str]

    @property
    def everywhere(self) -> list[str]:
        return sorted(self.table + self.spilled + self.logged)


def whereabouts(stack: Stack, logs: Logs, request_id: str) -> Whereabouts:
    table, spilled = stack.table_items(), stack.spilled_items()
    every = [*table, *spilled, *logs.last_resort]
    kinds = Counter(i["kind"]["S"] for i in every if i["request_id"]["S"] == request_id)
    return Whereabouts(ids(table, request_id), ids(spilled, request_id), ids(logs.last_resort, request_id), kinds)


def assert_complete(found: Whereabouts, answer: Answer, route: str) -> None:
    """Every record of the request is somewhere, once: the answer's ids, plus the batch's request record."""
    everywhere = found.everywhere
    assert len(everywhere) == len(set(everywhere)), f"a record is in two places or twice: {found}"
    if route == "/predict":
        assert everywhere == [answer.body["prediction_id"]]
        assert found.kinds == Counter(request=1)
    else:
        answered = {p["prediction_id"] for p in answer.body["predictions"]}
        assert answered < set(everywhere) and len(everywhere) == BATCH_SIZE + 1
        assert found.kinds == Counter(request=1, application=BATCH_SIZE)


def records_of(route: str) -> int:
    return 1 if route == "/predict" else BATCH_SIZE + 1


# ---- DynamoDB hangs ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_when_dynamodb_hangs_the_answer_comes_in_time_and_the_records_are_spilled_then_replayed(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    with HangingServer() as hanging:
        answer = call(service(dynamodb=hanging.url), request(event, route, "hang"))
        assert hanging.connections >= 1
    logs = read_stdout(capsys.readouterr().out)
    assert (answer.status, answer.where) == (200, "spilled")
    assert answer.elapsed_s < REMAINING_S
    found = whereabouts(stack, logs, "hang")
    assert_complete(found, answer, route)
    assert (len(found.table), len(found.spilled), len(found.logged)) == (0, records_of(route), 0)
    assert logs.metrics["LogRecordsSpilled"] == records_of(route) and "LogRecordsLoggedOnly" not in logs.metrics
    assert stack.prediction_log().replay_spilled() == {"replayed": records_of(route), "failed": 0}
    assert ids(stack.table_items(), "hang") == found.everywhere
    assert stack.spilled_items() == []


@pytest.mark.parametrize("route", ROUTES)
def test_when_dynamodb_and_sqs_both_hang_the_answer_comes_in_time_and_the_full_records_are_in_the_log(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    with HangingServer() as ddb, HangingServer() as sqs:
        answer = call(service(dynamodb=ddb.url, sqs=sqs.url), request(event, route, "both-hang"))
        # DynamoDB is tried; SQS too when the deadline leaves time for it (a loaded host may not).
        assert ddb.connections >= 1
    logs = read_stdout(capsys.readouterr().out)
    assert (answer.status, answer.where) == (200, "logged-only")
    assert answer.elapsed_s < REMAINING_S
    found = whereabouts(stack, logs, "both-hang")
    assert_complete(found, answer, route)
    assert (len(found.table), len(found.spilled), len(found.logged)) == (0, 0, records_of(route))
    assert logs.metrics["LogRecordsLoggedOnly"] == records_of(route)
    # The whole item, as it would have been written: key, inputs and outputs; enough to put it back.
    answered = answer.body if route == "/predict" else answer.body["predictions"][0]
    (line,) = [r for r in logs.last_resort if r["prediction_id"]["S"] == answered["prediction_id"]]
    assert {"pk", "sk", "ts", "expires_at", "features", "model_version", "status"} <= set(line)
    assert float(line["probability_good_credit"]["N"]) == answered["probability_good_credit"]
    assert json.loads(line["features"]["S"])["credit_amount"] == (5000.0 if route == "/predict" else 1000.0)
    stack.ddb.put_item(TableName=stack.table, Item=line)
    assert ids(stack.table_items(), "both-hang") == [answered["prediction_id"]]


def test_a_batch_of_1000_with_dynamodb_hanging_tries_only_the_chunks_that_fit_and_answers_in_time(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with HangingServer() as hanging:
        svc = service(dynamodb=hanging.url)
        answer = call(svc, batch_event(event, "big-hang", 1000))
        # 41 chunks, 8 workers: the first (up to) 8 hang for a read timeout each; by then no other chunk
        # would end in time, so none is even sent (a loaded host may start fewer before the deadline).
        assert 1 <= hanging.connections <= svc.writer.write_workers
    logs = read_stdout(capsys.readouterr().out)
    found = whereabouts(stack, logs, "big-hang")
    print(
        f"1,000-application batch, DynamoDB hanging: answered in {answer.elapsed_s:.2f} s of {REMAINING_S} s, "
        f"{answer.where}: {len(found.spilled)} spilled, {len(found.logged)} logged only"
    )
    assert answer.status == 200 and answer.where in ("spilled", "logged-only")
    assert answer.elapsed_s < REMAINING_S
    everywhere = found.everywhere
    assert len(everywhere) == len(set(everywhere)) == 1001 and found.kinds == Counter(request=1, application=1000)
    assert {p["prediction_id"] for p in answer.body["predictions"]} < set(everywhere)
    assert found.table == [] and len(found.spilled) == logs.metrics["LogRecordsSpilled"] > 0
    assert len(found.logged) == logs.metrics.get("LogRecordsLoggedOnly", 0)


# ---- DynamoDB refuses: resets, throttling, 500s, partial batches ----------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_when_dynamodb_resets_every_connection_the_records_are_spilled(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    with ResettingServer(read_request=True) as resetting:
        svc = service(dynamodb=resetting.url)
        answer = call(svc, request(event, route, "reset"))
        # The writer retried, one connection per attempt, each reset: every attempt the deadline allows.
        assert 1 <= resetting.connections <= svc.writer.max_attempts
    logs = read_stdout(capsys.readouterr().out)
    assert (answer.status, answer.where) == (200, "spilled")
    assert answer.elapsed_s < REMAINING_S
    found = whereabouts(stack, logs, "reset")
    assert_complete(found, answer, route)
    assert (len(found.table), len(found.spilled), len(found.logged)) == (0, records_of(route), 0)


@pytest.mark.parametrize("route", ROUTES)
def test_when_dynamodb_throttles_half_the_calls_the_retries_write_every_record_once(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    op = "PutItem" if route == "/predict" else "BatchWriteItem"
    answers = []
    with FaultProxy(stack.endpoint, seed=11) as proxy:
        svc = service(dynamodb=proxy.url)
        proxy.inject(op, "throttle", probability=0.5)
        # A function's whole timeout: this test is about the retries (the seeded throttles leave each request
        # an attempt that passes); the deadline's own claims are the tests above and below, and on a loaded host
        # 8 s left too little for five attempts and their backoff.
        for n in range(8):
            answers.append(call(svc, request(event, route, f"throttled-{n}"), remaining_s=30.0))
        stats = proxy.stats(op)
    logs = read_stdout(capsys.readouterr().out)
    assert stats.faulted > 0 and stats.forwarded == len(answers)
    for n, answer in enumerate(answers):
        assert (answer.status, answer.where) == (200, "written")
        found = whereabouts(stack, logs, f"throttled-{n}")
        assert_complete(found, answer, route)
        assert len(found.table) == records_of(route)
    assert len(stack.table_items()) == len(answers) * records_of(route)


@pytest.mark.parametrize("kind", ["throttle", "server_error"])
@pytest.mark.parametrize("route", ROUTES)
def test_when_dynamodb_always_refuses_the_records_are_spilled_after_the_retries(
    stack: Stack,
    service: Callable[..., PredictService],
    event: Any,
    capsys: pytest.CaptureFixture[str],
    route: str,
    kind: Any,
) -> None:
    op = "PutItem" if route == "/predict" else "BatchWriteItem"
    with FaultProxy(stack.endpoint) as proxy:
        svc = service(dynamodb=proxy.url)
        proxy.inject(op, kind)
        answer = call(svc, request(event, route, "refused"))
        stats = proxy.stats(op)
    logs = read_stdout(capsys.readouterr().out)
    # Every attempt the deadline allows (all of them on an idle host; fewer when the host is loaded).
    assert 1 <= stats.faulted <= svc.writer.max_attempts and stats.forwarded == 0
    assert (answer.status, answer.where) == (200, "spilled")
    assert answer.elapsed_s < REMAINING_S
    found = whereabouts(stack, logs, "refused")
    assert_complete(found, answer, route)
    assert (len(found.table), len(found.spilled), len(found.logged)) == (0, records_of(route), 0)
    assert stack.prediction_log().replay_spilled() == {"replayed": records_of(route), "failed": 0}
    assert ids(stack.table_items(), "refused") == found.everywhere


def test_unprocessed_items_of_a_partial_batch_write_are_retried_until_every_item_is_in_the_table_once(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with FaultProxy(stack.endpoint) as proxy:
        svc = service(dynamodb=proxy.url)
        # 21 items: 10 written and 11 unprocessed, then 5 and 6, then the last 6 in full.
        proxy.inject("BatchWriteItem", "partial", count=2, forward=0.5)
        # A function's whole timeout, as the throttle test above: this test is about the retries, and 8 s
        # (an attempt starts only if it can end 3 s before the SQS reserve) once left a loaded CI host none.
        answer = call(svc, batch_event(event, "partial", BATCH_SIZE), remaining_s=30.0)
        stats = proxy.stats("BatchWriteItem")
    logs = read_stdout(capsys.readouterr().out)
    assert (stats.seen, stats.faulted, stats.items_refused) == (3, 2, 11 + 6)
    assert (answer.status, answer.where) == (200, "written")
    found = whereabouts(stack, logs, "partial")
    assert_complete(found, answer, "/predict-batch")
    assert (len(found.table), len(found.spilled), len(found.logged)) == (BATCH_SIZE + 1, 0, 0)
    assert len(stack.table_items()) == BATCH_SIZE + 1


@pytest.mark.parametrize("route", ROUTES)
def test_a_partial_spill_while_dynamodb_is_down_sends_the_rest_to_the_log_losing_and_repeating_nothing(
    stack: Stack, service: Callable[..., PredictService], event: Any, capsys: pytest.CaptureFixture[str], route: str
) -> None:
    op = "PutItem" if route == "/predict" else "BatchWriteItem"
    with FaultProxy(stack.endpoint) as proxy:
        svc = service(dynamodb=proxy.url, sqs=proxy.url)
        proxy.inject(op, "server_error")
        proxy.inject("SendMessageBatch", "partial", forward=0.5)
        answer = call(svc, request(event, route, "spill-partial"))
        stats = proxy.stats("SendMessageBatch")
    logs = read_stdout(capsys.readouterr().out)
    assert stats.faulted > 0
    assert (answer.status, answer.where) == (200, "logged-only")
    assert answer.elapsed_s < REMAINING_S
    found = whereabouts(stack, logs, "spill-partial")
    assert_complete(found, answer, route)
    # Each SQS retry sends only the entries that failed, and the half of them that goes through is
    # never sent again; what still failed after the last attempt is in the log, once.
    assert found.table == [] and len(found.spilled) == stats.items_forwarded
    assert len(found.logged) == records_of(route) - stats.items_forwarded > 0
    assert logs.metrics["LogRecordsSpilled"] == len(found.spilled)
    assert logs.metrics["LogRecordsLoggedOnly"] == len(found.logged)
