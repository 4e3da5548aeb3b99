"""The alerts function never loses a message: real transport faults (Slack dropping connections, Secrets
Manager throttling through a proxy), then a healthy run that posts exactly once."""

from __future__ import annotations

import functools
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from conftest import TEST_PARAMETERS
from faults import FaultProxy, SlackWebhook
from lambda_context import LambdaContext
from moto.server import ThreadedMotoServer

from creditwatch.local.resources import create_resources
from creditwatch.local.template import Template
from creditwatch_alerts.app import AlertsService, build
from creditwatch_alerts.service import DeliveryFailed
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackError
from creditwatch_common.aws import AwsClients
from creditwatch_common.ids import uuid7
from creditwatch_common.log import LogWriter
from creditwatch_common.log.pending import PendingHours
from creditwatch_common.notifications import DriftDetected, dump_notification
from creditwatch_common.records import LogRecord

REGION = "us-east-1"


def client(service: str, endpoint: str) -> Any:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client(service, endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1}))


Ctx = functools.partial(LambdaContext, "AlertsFunction", memory_limit_in_mb=512, request_id="r")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto server with the template's resources; Secrets Manager behind a fault proxy; a Slack webhook."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's backends live in the process, not the server: start each test from nothing.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
        template = Template(endpoint=endpoint, overrides=TEST_PARAMETERS)
        with FaultProxy(endpoint, seed=3) as proxy, SlackWebhook() as slack:
            create_resources(template, lambda s: client(s, endpoint), webhook_url=slack.url)
            # boto3 resolves per-service endpoints itself: Secrets Manager through the proxy, the rest on moto.
            monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
            monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", proxy.url)
            for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
            # Powertools keeps one provider (and its boto3 client) per process: make one for this endpoint.
            from aws_lambda_powertools.utilities.parameters import base

            base.DEFAULT_PROVIDERS.clear()
            base.clear_caches()
            settings = AlertsSettings().model_copy(
                update={
                    "predictions_table": template.ref("PredictionsTable"),
                    "alert_state_table": template.ref("AlertStateTable"),
                    "slack_webhook_secret": template.ref("SlackWebhookSecret"),
                    "notifications_queue_url": template.ref("NotificationsQueue"),
                    "secret_max_age_s": 0,  # every run reads the secret: the throttle is met
                }
            )
            yield type(
                "Stack",
                (),
                {"endpoint": endpoint, "template": template, "proxy": proxy, "slack": slack, "settings": settings},
            )
    finally:
        from aws_lambda_powertools.utilities.parameters import base

        base.DEFAULT_PROVIDERS.clear()
        base.clear_caches()
        server.stop()
        if server._server is not None:
            server._server.server_close()


def service(stack: Any) -> AlertsService:
    return build(stack.settings, AwsClients())


def server_errors(stack: Any, n: int = 30) -> None:
    writer = LogWriter(
        dynamodb=client("dynamodb", stack.endpoint),
        table=stack.template.ref("PredictionsTable"),
        shards=int(stack.template.parameters["LogShards"]),
    )
    records = [
        LogRecord(request_id=uuid7(), route="/predict", status=500, latency_ms=5.0, model_version="v") for _ in range(n)
    ]
    assert writer.write(records).written == n


def run(svc: AlertsService) -> dict[str, Any]:
    result: dict[str, Any] = svc.handler({"source": "test"}, Ctx())
    return result


def test_slack_dropping_connections_fails_the_run_and_the_next_healthy_run_posts_the_alert_once(stack: Any) -> None:
    server_errors(stack)
    stack.slack.set_mode("drop")
    with pytest.raises(SlackError, match="connection to Slack failed"):
        run(service(stack))
    assert stack.slack.attempts >= 2 and stack.slack.payloads == []  # retried, never delivered
    stack.slack.set_mode("ok")
    result = run(service(stack))
    assert [p["kind"] for p in result["posted"]] == ["firing"]
    assert [p["text"].split(":")[0] for p in stack.slack.payloads] == ["[dev] ALERT"]
    assert run(service(stack))["posted"] == []  # and not again


def test_a_throttled_webhook_secret_fails_the_run_and_the_next_healthy_run_posts_the_alert_once(stack: Any) -> None:
    server_errors(stack)
    stack.proxy.inject("GetSecretValue", "throttle")
    with pytest.raises(DeliveryFailed, match="error_rate"):
        run(service(stack))
    assert stack.proxy.stats("GetSecretValue").faulted >= 1 and stack.slack.payloads == []
    stack.proxy.clear()
    result = run(service(stack))
    assert [p["kind"] for p in result["posted"]] == ["firing"]
    assert len(stack.slack.payloads) == 1


def test_a_drift_notice_cut_off_by_a_dropped_connection_is_delivered_once_by_the_next_run(stack: Any) -> None:
    note = DriftDetected(
        dedupe_key="drift#w1",
        environment="dev",
        window_start="2026-11-22T00:00:00Z",
        window_end="2026-11-23T00:00:00Z",
        drift_share=0.5,
        threshold=0.3,
        drifted_features=["credit_amount"],
        n_features=19,
        rows_used=400,
        model_version="v",
        report_url=None,
        report_url_expires_at=None,
        report_url_signed_by=None,
        summary_key=None,
    )
    sqs = client("sqs", stack.endpoint)
    queue = stack.settings.notifications_queue_url
    sqs.send_message(QueueUrl=queue, MessageBody=dump_notification(note))
    settings = stack.settings.model_copy(update={"expect_traffic": False})
    stack.slack.set_mode("reset")
    with pytest.raises(SlackError):
        build(settings, AwsClients()).handler({"source": "test"}, Ctx())
    stack.slack.set_mode("ok")
    result = build(settings, AwsClients()).handler({"source": "test"}, Ctx())
    assert result["notifications_delivered"] == 1
    again = build(settings, AwsClients()).handler({"source": "test"}, Ctx())
    assert again["notifications_delivered"] == 0
    assert [json.dumps(p)[:60].count("DATA DRIFT") for p in stack.slack.payloads] == [1]


def test_every_alerts_run_replays_the_spill_and_a_failing_delete_loses_and_duplicates_nothing(
    stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = stack.template.ref("SpillQueue")
    table = stack.template.ref("PredictionsTable")
    # Records the predict function could not write: DynamoDB refused them (a missing table), SQS took them.
    spiller = LogWriter(
        dynamodb=client("dynamodb", stack.endpoint),
        table="no-such-table",
        shards=int(stack.template.parameters["LogShards"]),
        sqs=client("sqs", stack.endpoint),
        spill_queue_url=spill,
        sleep=lambda _s: None,
    )
    records = [
        LogRecord(request_id=uuid7(), route="/predict", status=200, latency_ms=3.0, model_version="v")
        for _ in range(25)
    ]
    assert spiller.write(records).spilled == 25
    # The alerts function's SQS calls go through the proxy: two deletes fail, each through all five of
    # botocore's attempts (the jobs' clients retry transient errors themselves).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", stack.proxy.url)
    stack.proxy.inject("DeleteMessage", "server_error", count=10)
    settings = stack.settings.model_copy(update={"spill_queue_url": spill, "expect_traffic": False})

    def alerts_run() -> dict[str, Any]:
        svc = build(settings, AwsClients())
        assert svc.job.replayer is not None
        svc.job.replayer.replay_visibility_s = 1  # a failed delete's message comes back within the test
        return svc.handler({"source": "test"}, Ctx())  # type: ignore[no-any-return]

    def stored() -> list[str]:
        items = client("dynamodb", stack.endpoint).scan(TableName=table, ConsistentRead=True)["Items"]
        # The records, not the replay's marks of the hours it wrote into (for the lake export).
        return sorted(i["prediction_id"]["S"] for i in items if i["pk"]["S"].startswith("LOG#"))

    first = alerts_run()
    # The first receive's ten were all written; two deletes failed: those two stay queued, and the run
    # stops replaying for now rather than spin on a failing queue.
    assert (first["spill_replayed"], first["spill_replay_failed"]) == (8, 2), stack.proxy.all_stats()
    assert stack.proxy.stats("DeleteMessage").faulted == 10 and len(stored()) == 10
    time.sleep(1.5)
    # The two come back and are written again: the same key, still one item each.
    second = alerts_run()
    assert first["spill_replayed"] + second["spill_replayed"] == 25 and second["spill_replay_failed"] == 0
    assert stored() == sorted(r.prediction_id for r in records)
    attrs = client("sqs", stack.endpoint).get_queue_attributes(QueueUrl=spill, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    # The hour the records were written in is marked for the next lake export (the alerts role's PutItem).
    marks = PendingHours(client("dynamodb", stack.endpoint), table).list()
    hours = {datetime.fromtimestamp(r.millis // 3_600_000 * 3600, UTC) for r in records}
    assert [m.hour for m in marks] == sorted(hours)
