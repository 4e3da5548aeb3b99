"""Oversight of the reviewers in the alerts function: the queue against its SLA, the override rate against its band."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from creditwatch_alerts.oversight import OversightReader, OversightStats, evaluate_oversight
from creditwatch_alerts.service import AlertsEvent, AlertsJob
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackClient
from creditwatch_alerts.state import StateStore
from creditwatch_common.ids import iso_millis, uuid7
from creditwatch_common.log.reviews import ReviewStore
from creditwatch_common.records import LogRecord
from creditwatch_common.review import ReviewCase

END = datetime(2026, 6, 1, 12, tzinfo=UTC)
START = END - timedelta(hours=168)
BAND = {"sla_hours": 24.0, "low": 0.02, "high": 0.5, "min_decisions": 20}


def event(case: str, override: bool, at: datetime, *, hours_waited: float = 2.0, **over: Any) -> dict[str, Any]:
    applied = int((at - timedelta(hours=hours_waited)).timestamp() * 1000)
    return {
        "case_id": case,
        "prediction_id": uuid7(applied),
        "decision": "approve" if override else "refuse",
        "model_decision": "refuse",
        "override": override,
        "reason_code": "verified_income" if override else "agrees_with_model",
        "decided_by": "rita",
        "decided_at": iso_millis(int(at.timestamp() * 1000)),
        "model_version": "v1",
        "correction": False,
        **over,
    }


def stats(events: list[dict[str, Any]], queue: tuple[int, str | None] = (0, None)) -> OversightStats:
    return OversightStats.build(queue, events, START, END)


def by_key(conditions: list[Any]) -> dict[str, Any]:
    return {c.key: c for c in conditions}


def test_the_queue_fires_when_its_oldest_case_is_older_than_the_sla_and_not_before():
    old = iso_millis(int((END - timedelta(hours=25)).timestamp() * 1000))
    young = iso_millis(int((END - timedelta(hours=23)).timestamp() * 1000))
    fired = by_key(evaluate_oversight(stats([], (3, old)), **BAND))["review_queue_age"]
    assert fired.firing and fired.value == pytest.approx(25.0) and "3 case(s) pending" in fired.detail
    assert not by_key(evaluate_oversight(stats([], (3, young)), **BAND))["review_queue_age"].firing
    empty = by_key(evaluate_oversight(stats([]), **BAND))["review_queue_age"]
    assert empty.judged and not empty.firing and empty.detail == "no case pending"


def test_a_sla_of_zero_turns_the_queue_rule_off():
    old = iso_millis(int((END - timedelta(days=30)).timestamp() * 1000))
    rule = by_key(evaluate_oversight(stats([], (1, old)), **{**BAND, "sla_hours": 0.0}))["review_queue_age"]
    assert not rule.judged and not rule.firing


@pytest.mark.parametrize(
    ("overrides", "firing", "words"),
    [
        (0, True, "automation bias"),
        (1, False, "1 of 20"),
        (10, False, "10 of 20"),
        (11, True, "may be off for the cases it refers"),
    ],
)
def test_the_override_rate_fires_outside_its_band(overrides, firing, words):
    events = [event(f"c{i}", i < overrides, END - timedelta(hours=i + 1)) for i in range(20)]
    rule = by_key(evaluate_oversight(stats(events), **BAND))["override_rate"]
    assert rule.judged and rule.firing is firing and rule.value == overrides / 20 and words in rule.detail


def test_the_override_rate_is_not_judged_before_enough_cases_are_decided():
    events = [event(f"c{i}", False, END - timedelta(hours=1)) for i in range(19)]
    rule = by_key(evaluate_oversight(stats(events), **BAND))["override_rate"]
    assert not rule.judged and not rule.firing and "only 19 decided case(s)" in rule.detail


def test_a_correction_replaces_its_cases_decision_and_each_case_counts_once():
    first = event("c1", False, END - timedelta(hours=3))
    corrected = event(
        "c1", True, END - timedelta(hours=1), correction=True, decided_by="omar", prediction_id=first["prediction_id"]
    )
    s = stats([corrected, first, event("c2", False, END - timedelta(hours=2))])
    assert (s.decisions, s.overrides, s.override_rate) == (2, 1, 0.5)
    assert s.by_reviewer["omar"].overrides == 1 and s.by_reviewer["rita"].decisions == 1
    assert s.by_reason_code["verified_income"].decisions == 1 and s.by_model_version["v1"].decisions == 2


def test_time_to_decision_runs_from_the_application_to_its_first_decision():
    events = [event(f"c{i}", False, END - timedelta(hours=1), hours_waited=h) for i, h in enumerate((1, 2, 3, 10))]
    events.append(event("c0", True, END, hours_waited=50, correction=True))  # a correction is not a wait
    s = stats(events)
    assert s.hours_to_decision["p50"] == pytest.approx(2.5, abs=0.01)
    assert s.hours_to_decision["max"] == pytest.approx(10.0, abs=0.01)


# ---------------------------------------------------------------- the job, on moto


class Slack(BaseHTTPRequestHandler):
    """A webhook that takes every message and keeps it."""

    received: list[dict[str, Any]] = []

    def log_message(self, *a: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def slack_server() -> Iterator[tuple[str, type[Slack]]]:
    Slack.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/SECRET", Slack
    server.shutdown()


@pytest.fixture
def oversight_job(aws, ddb, prediction_log, slack_server):
    url, srv = slack_server
    store = ReviewStore(
        dynamodb=ddb, table=aws.ref("ReviewCasesTable"), log_table=prediction_log.table, shards=prediction_log.shards
    )
    settings = AlertsSettings().model_copy(update={"review_cases_table": store.table, "expect_traffic": False})
    job = AlertsJob(
        settings=settings,
        reader=prediction_log,
        state=StateStore(dynamodb=ddb, table=aws.ref("AlertStateTable"), environment="test"),
        slack=lambda: SlackClient(webhook_url=url, timeout_s=1, max_attempts=2, sleep=lambda _s: None),
        oversight=OversightReader(dynamodb=ddb, cases_table=store.table, log=prediction_log),
    )
    return job, store, srv


def referred(prediction_log: Any, store: ReviewStore, hours_ago: float) -> ReviewCase:
    """A scored record in the log and its case on the queue, referred `hours_ago`."""
    ms = int((time.time() - hours_ago * 3600) * 1000)
    record = LogRecord(
        request_id=uuid7(ms), prediction_id=uuid7(ms), route="/predict", status=200, latency_ms=5.0,
        model_version="v1", decision="refuse",
    )  # fmt: skip
    prediction_log.write([record])
    case = ReviewCase(
        case_id=uuid7(),
        prediction_id=record.prediction_id,
        created_at=iso_millis(ms),
        model_decision="refuse",
        probability_good_credit=0.6,
        model_version="v1",
        referral=["band"],
    )
    store.enqueue([case])
    return case


def test_a_queue_past_its_sla_is_told_to_slack_once_and_its_clearing_once(oversight_job, prediction_log):
    job, store, srv = oversight_job
    case = referred(prediction_log, store, hours_ago=30)
    referred(prediction_log, store, hours_ago=1)  # a younger case waits too
    first = job.run(AlertsEvent())
    assert first.oversight is not None and first.oversight.queue_size == 2
    assert first.oversight.oldest_age_hours == pytest.approx(30, abs=0.1)
    assert [(p.kind, p.key) for p in first.posted] == [("firing", "review_queue_age")]
    assert job.run(AlertsEvent()).posted == []
    store.decide(case.case_id, "approve", "verified_income", "rita")
    cleared = job.run(AlertsEvent())
    assert [(p.kind, p.key) for p in cleared.posted] == [("resolved", "review_queue_age")]
    assert cleared.oversight is not None and cleared.oversight.queue_size == 1
    assert (cleared.oversight.decisions, cleared.oversight.overrides) == (1, 1)
    texts = [m["text"] for m in srv.received]
    assert "Review queue older than its SLA" in texts[0] and "RESOLVED" in texts[1]


def test_reviewers_who_never_override_are_told_to_slack_as_possible_automation_bias(oversight_job, prediction_log):
    job, store, srv = oversight_job
    for _ in range(20):
        store.decide(referred(prediction_log, store, hours_ago=2).case_id, "refuse", "agrees_with_model", "rita")
    result = job.run(AlertsEvent())
    assert result.oversight is not None and result.oversight.override_rate == 0.0
    assert result.oversight.by_model_version["v1"].decisions == 20
    assert [(p.kind, p.key) for p in result.posted] == [("firing", "override_rate")]
    assert "automation bias" in srv.received[-1]["blocks"][1]["text"]["text"]


def test_the_handler_reports_the_queue_as_metrics_beside_its_alert(aws, ddb, prediction_log, slack_server, capsys):
    import boto3

    from creditwatch_alerts.app import build
    from creditwatch_common.aws import AwsClients

    url, _ = slack_server
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=aws.ref("SlackWebhookSecret"), SecretString=json.dumps({"webhook_url": url})
    )
    store = ReviewStore(
        dynamodb=ddb, table=aws.ref("ReviewCasesTable"), log_table=prediction_log.table, shards=prediction_log.shards
    )
    referred(prediction_log, store, hours_ago=30)
    # The template's environment (tests/conftest.py): the alerts function knows the case table.
    service = build(AlertsSettings(), AwsClients())
    assert service.settings.review_cases_table == store.table
    service.handle({"source": "test"})
    service.obs.metrics.flush_metrics()
    metrics: dict[str, Any] = {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith('{"_aws"'):
            metrics.update(json.loads(line))
    value = {k: v[0] if isinstance(v, list) else v for k, v in metrics.items() if k != "_aws"}
    assert value["ReviewQueueSize"] == 1.0 and value["Alert_review_queue_age"] == 1.0
    assert value["ReviewQueueOldestAgeHours"] == pytest.approx(30, abs=0.1)
    assert "ReviewOverrideRate" not in metrics  # nothing decided: no verdict, no datapoint
