"""No prediction log record is lost or written twice, whatever DynamoDB and SQS do during a thousand requests.

The predict function is built as its handler builds it and called through its Lambda handler with
the template's timeout as the context's remaining time; DynamoDB and SQS are reached through one
FaultProxy in front of the local stack's moto server (per-service endpoints), whose faults are
switched on and off at random (seeded) between requests. Every record must then be in exactly one
place: the table, the spill queue or a last-resort log line; after the replay of the spill queue,
every record not kept in the logs only is in the table exactly once.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faults import FaultProxy
from lambda_context import LambdaContext

from creditwatch.local.template import Template
from creditwatch_common.aws import AwsClients
from creditwatch_common.log import PredictionLog
from creditwatch_predict.app import PredictService, build
from creditwatch_predict.schemas import SEED_EXAMPLE
from creditwatch_predict.settings import PredictSettings

REGION = "us-east-1"
SEED = 20261127
REQUESTS = 1000
LAST_RESORT = "prediction log record kept in logs only"
DDB_WRITES = ("PutItem", "BatchWriteItem")

# Each phase: the faults in front of the services while it lasts, and how many requests it lasts.
# A phase where DynamoDB always refuses costs the writer's full backoff (5 attempts, base 50 ms) on
# every request, so those phases are short; the others are long. Where each request's records
# should go follows from the faults (written, spilled, logged-only); the test checks what did.
Rule = tuple[str, str, dict[str, Any]]
PHASES: dict[str, tuple[list[Rule], tuple[int, int], float]] = {
    # name: (rules, (min, max) requests, weight)
    "none": ([], (20, 60), 3.0),
    "throttle p=0.3": (
        [(op, "throttle", {"probability": 0.3}) for op in (*DDB_WRITES, "SendMessageBatch")],
        (20, 60),
        3.0,
    ),
    # Half the calls: half their items come back as UnprocessedItems (every call would be a phase
    # where every batch waits out the whole backoff).
    "partial BatchWriteItem": ([("BatchWriteItem", "partial", {"forward": 0.5, "probability": 0.5})], (20, 40), 2.0),
    "DynamoDB reset p=0.5": ([(op, "reset", {"probability": 0.5}) for op in DDB_WRITES], (10, 30), 2.0),
    "throttle always (DynamoDB)": ([(op, "throttle", {}) for op in DDB_WRITES], (2, 6), 1.0),
    "500 always (DynamoDB and SQS)": (
        [(op, "server_error", {}) for op in (*DDB_WRITES, "SendMessageBatch")],
        (1, 3),
        1.0,
    ),
    "partial SendMessageBatch, DynamoDB throttled": (
        [*((op, "throttle", {}) for op in DDB_WRITES), ("SendMessageBatch", "partial", {"forward": 0.5})],
        (2, 6),
        1.0,
    ),
}
# Requests in phases where DynamoDB always refuses, at most (then those phases are not drawn again).
ALWAYS_FAILING = (
    "throttle always (DynamoDB)",
    "500 always (DynamoDB and SQS)",
    "partial SendMessageBatch, DynamoDB throttled",
)
ALWAYS_FAILING_BUDGET = 24
# DynamoDB hanging: each such request waits out a read timeout per attempt (about 10 s in all).
HANGING_REQUESTS = 2
INVALID = [
    ("predict-malformed-json.json", 400),
    ("predict-missing-field.json", 422),
    ("predict-wrong-types.json", 422),
    ("predict-batch-empty.json", 422),
    ("predict-batch-invalid-item.json", 422),
]


@dataclass
class Sent:
    """One request and what came back."""

    request_id: str
    phase: str
    route: str
    applications: int  # 0 for a single prediction or a rejected request
    expected_status: int
    status: int = 0
    where: str = ""
    elapsed_s: float = 0.0
    answered_ids: tuple[str, ...] = ()

    @property
    def records(self) -> int:
        """Records this request must leave: 1 per single or rejected request, 1 + n per batch."""
        return 1 + self.applications


def aws_client(service: str, endpoint: str) -> Any:
    """A client of the test itself (inspection and replay), straight to moto."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client(
        service, endpoint_url=endpoint, config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
    )


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    # Only what the count needs: moto builds every page in Python, and features are most of an item.
    kwargs: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "ProjectionExpression": "prediction_id, request_id, #k",
        "ExpressionAttributeNames": {"#k": "kind"},
    }
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def peek_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message body of the queue, left in it (made visible again) for the replay."""
    bodies: list[dict[str, Any]] = []
    handles: list[str] = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=300
    ).get("Messages", []):
        bodies.extend(json.loads(m["Body"]) for m in messages)
        handles.extend(m["ReceiptHandle"] for m in messages)
    for start in range(0, len(handles), 10):
        chunk = enumerate(handles[start : start + 10])
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0} for i, h in chunk]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return bodies


def last_resort_lines(out: str) -> list[dict[str, Any]]:
    """The records the function printed as its last resort (JSON log lines on stdout)."""
    records = []
    for line in out.splitlines():
        if line.startswith("{") and LAST_RESORT in line:
            entry = json.loads(line)
            if entry.get("message") == LAST_RESORT:
                records.append(entry["log_record"])
    return records


def make_event(
    event: Callable[[str], dict[str, Any]], rng: random.Random, request_id: str
) -> tuple[dict[str, Any], str, int, int]:
    """A random request: a single (45%), a batch of 2-20 (40%) or an invalid body (15%)."""
    draw = rng.random()
    if draw < 0.45:
        ev = event("predict-valid.json")
        ev["body"] = json.dumps({**SEED_EXAMPLE, "Credit amount": float(rng.randint(250, 20_000))})
        route, applications, status = "/predict", 0, 200
    elif draw < 0.85:
        ev = event("predict-batch-valid.json")
        applications = rng.randint(2, 20)
        apps = [{**SEED_EXAMPLE, "Age in years": rng.randint(19, 75)} for _ in range(applications)]
        ev["body"] = json.dumps({"applications": apps})
        route, status = "/predict-batch", 200
    else:
        name, status = rng.choice(INVALID)
        ev = event(name)
        route, applications = ev["rawPath"], 0
    ev["requestContext"]["requestId"] = request_id
    return ev, route, applications, status


def apply(proxy: FaultProxy, rules: list[Rule]) -> None:
    proxy.clear()
    for op, kind, options in rules:
        proxy.inject(op, kind, **options)  # type: ignore[arg-type]


def test_a_thousand_requests_under_random_faults_lose_no_record_and_write_none_twice(
    local_stack: Any, model: Any, event: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    template = Template(endpoint=local_stack.endpoint)
    timeout_s = float(Template().function("PredictFunction").timeout)
    table = template.ref("PredictionsTable")
    ddb, sqs = aws_client("dynamodb", local_stack.endpoint), aws_client("sqs", local_stack.endpoint)
    queue_url = sqs.get_queue_url(QueueName=template.physical_name("SpillQueue"))["QueueUrl"]

    rng = random.Random(SEED)
    failing_left = ALWAYS_FAILING_BUDGET
    sent: list[Sent] = []
    with FaultProxy(local_stack.endpoint, seed=SEED) as proxy:
        # Both services through the proxy, each by its own endpoint variable, as boto3 resolves them.
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        settings = PredictSettings().model_copy(update={"spill_queue_url": queue_url})
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        service: PredictService = build(settings, AwsClients(session), model=model)
        # Lambda sends stdout to CloudWatch Logs; here it is this test's capture. Powertools keeps the
        # stream of the service's first Logger (an earlier test's capture, gone), hence the reset.
        service.obs.logger.registered_handler.stream = sys.stdout  # type: ignore[attr-defined]
        # Backoff at a tenth (5 ms base, still jittered and still bounded by the deadline): the test proves where
        # the records go, not how long retries wait, and the real waits were 30 s of its 100.
        service.writer.base_delay_s /= 10

        hang_at = set(rng.sample(range(50, REQUESTS), HANGING_REQUESTS))
        phase, left = "none", 0
        for n in range(REQUESTS):
            if left == 0:
                names = [p for p in PHASES if failing_left > 0 or p not in ALWAYS_FAILING]
                phase = rng.choices(names, [PHASES[p][2] for p in names])[0]
                low, high = PHASES[phase][1]
                left = rng.randint(low, high)
                if phase in ALWAYS_FAILING:
                    left = min(left, failing_left)
                    failing_left -= left
                apply(proxy, PHASES[phase][0])
            left -= 1
            current = phase
            if n in hang_at:
                current = "DynamoDB hanging"
                apply(proxy, [(op, "hang", {"hang_seconds": 3.0}) for op in DDB_WRITES])
            ev, route, applications, status = make_event(event, rng, f"faults-{SEED}-{n:04d}")
            one = Sent(ev["requestContext"]["requestId"], current, route, applications, status)
            t0 = time.monotonic()
            resp = service.handler(ev, LambdaContext(remaining_s=timeout_s, request_id=one.request_id))
            one.elapsed_s = time.monotonic() - t0
            one.status, one.where = resp["statusCode"], resp["headers"].get("x-prediction-log", "")
            body = json.loads(resp["body"])
            if status == 200 and route == "/predict":
                one.answered_ids = (body["prediction_id"],)
            elif status == 200:
                one.answered_ids = tuple(p["prediction_id"] for p in body["predictions"])
            sent.append(one)
            if n in hang_at:
                apply(proxy, PHASES[phase][0])
        proxy.clear()
        proxy_stats = {op: st for op, st in proxy.all_stats().items() if st.faulted}
    out = capsys.readouterr().out

    # Where every record is, before the replay.
    ours = {s.request_id: s for s in sent}

    def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # The local stack belongs to this module; only this test's requests count all the same.
        # (.get: the table also holds the replay's marks of hours for the lake export, which are no record)
        return [i for i in items if i.get("request_id", {}).get("S") in ours]

    in_table, in_queue, in_logs = mine(scan(ddb, table)), mine(peek_queue(sqs, queue_url)), mine(last_resort_lines(out))
    found = Counter(i["prediction_id"]["S"] for i in (*in_table, *in_queue, *in_logs))
    by_request: dict[str, Counter[str]] = {}
    for place, items in (("table", in_table), ("queue", in_queue), ("logs", in_logs)):
        for i in items:
            by_request.setdefault(i["request_id"]["S"], Counter())[place] += 1
    expected = sum(s.records for s in sent)
    duplicated = sum(c - 1 for c in found.values() if c > 1)
    lost = {s.request_id: s.records - sum(by_request.get(s.request_id, Counter()).values()) for s in sent}
    lost = {k: v for k, v in lost.items() if v}

    # After the replay, every record that is not in the logs only is in the table, once.
    replay = PredictionLog(dynamodb=ddb, table=table, shards=settings.log_shards, sqs=sqs, spill_queue_url=queue_url)
    replayed = replay.replay_spilled()
    after = Counter(i["prediction_id"]["S"] for i in mine(scan(ddb, table)))
    logged_ids = {i["prediction_id"]["S"] for i in in_logs}
    slowest = max(sent, key=lambda s: s.elapsed_s)
    summary = "\n".join(
        [
            f"requests answered: {len(sent)} ({dict(Counter(s.route for s in sent))}; "
            f"statuses {dict(Counter(s.status for s in sent))})",
            f"x-prediction-log: {dict(Counter(s.where for s in sent))}",
            f"phases (requests): {dict(Counter(s.phase for s in sent))}",
            f"faults injected: { {op: dict(st.by_kind) for op, st in proxy_stats.items()} }",
            f"records expected: {expected}",
            f"records in the table {len(in_table)} + spill queue {len(in_queue)} + last-resort log lines "
            f"{len(in_logs)} = {len(in_table) + len(in_queue) + len(in_logs)}; lost {sum(lost.values())}, "
            f"duplicated {duplicated}",
            f"replay: {replayed}; then in the table {sum(after.values())} records, {len(after)} ids, "
            f"written twice {sum(1 for c in after.values() if c > 1)}; kept in logs only {len(logged_ids)}",
            f"slowest answer: {slowest.elapsed_s:.2f} s of the {timeout_s:.0f} s timeout ({slowest.phase}, "
            f"{slowest.route}, {slowest.records} records, {slowest.where})",
            f"test time: {time.monotonic() - started:.1f} s, of which answering {sum(s.elapsed_s for s in sent):.1f} s",
        ]
    )
    with capsys.disabled():
        print("\n" + summary)

    assert len(sent) == REQUESTS and all(s.status == s.expected_status for s in sent), summary
    assert len(in_table) + len(in_queue) + len(in_logs) == expected == len(found), summary
    assert not lost and duplicated == 0, f"{summary}\nlost: {lost}"
    for s in sent:
        places = by_request[s.request_id]
        # The header tells the least durable place the request's records went.
        assert s.where == ("logged-only" if places["logs"] else "spilled" if places["queue"] else "written"), (
            s,
            places,
        )
        ids = {
            i["prediction_id"]["S"] for i in (*in_table, *in_queue, *in_logs) if i["request_id"]["S"] == s.request_id
        }
        assert set(s.answered_ids) <= ids, s
    assert replayed == {"replayed": len(in_queue), "failed": 0}, summary
    assert set(after) == set(found) - logged_ids and all(c == 1 for c in after.values()), summary
    assert slowest.elapsed_s < timeout_s, summary
