"""Alert rules at their boundaries, the Slack client against a real local HTTP server, state hygiene."""

import contextlib
import functools
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from lambda_context import LambdaContext

from creditwatch_alerts.rules import WindowStats, evaluate, percentile
from creditwatch_alerts.service import AlertsEvent, AlertsJob
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackClient, SlackError
from creditwatch_alerts.state import StateStore
from creditwatch_common.ids import uuid7
from creditwatch_common.notifications import (
    DriftDetected,
    Estimate,
    EstimatedQuality,
    RunFailed,
    dump_notification,
    parse_notification,
)
from creditwatch_common.records import LogRecord, RequestRow

RULES = {
    "error_rate_threshold": 0.05,
    "latency_threshold_ms": 100.0,
    "latency_statistic": "p95",
    "min_requests": 20,
    "expect_traffic": True,
}


def stats_of(statuses, latency=10.0):
    return WindowStats.from_records([RequestRow(s, latency) for s in statuses], "s", "e")


def firing(stats, **over):
    return {c.key for c in evaluate(stats, **{**RULES, **over}) if c.firing}


def test_percentile_matches_numpy():
    rng = np.random.default_rng(1)
    values = list(rng.exponential(20, 257))
    for q in (0, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_exactly_five_percent_does_not_fire_and_just_above_does():
    assert "error_rate" not in firing(stats_of([500] * 5 + [200] * 95))
    assert "error_rate" in firing(stats_of([500] * 6 + [200] * 94))


def test_client_errors_are_counted_apart_and_never_fire():
    s = stats_of([422] * 50 + [200] * 50)
    assert s.client_error_rate == 0.5 and s.server_error_rate == 0
    assert firing(s) == set()


def test_minimum_request_count_before_judging():
    s = stats_of([500] * 19)
    conds = {c.key: c for c in evaluate(s, **RULES)}
    assert not conds["error_rate"].firing and not conds["error_rate"].judged
    assert "error_rate" in firing(stats_of([500] * 20))


def test_latency_threshold_on_the_chosen_statistic():
    assert "latency" not in firing(stats_of([200] * 100, latency=100.0))
    assert "latency" in firing(stats_of([200] * 100, latency=100.5))
    recs = [RequestRow(200, 10.0)] * 90 + [RequestRow(200, 500.0)] * 10
    s = WindowStats.from_records(recs, "s", "e")
    assert "latency" in firing(s)
    assert "latency" not in firing(s, latency_statistic="p50")


def test_no_traffic_is_a_warning_only_when_traffic_is_expected():
    assert firing(stats_of([])) == {"no_traffic"}
    assert firing(stats_of([]), expect_traffic=False) == set()


class Slack(BaseHTTPRequestHandler):
    """A programmable webhook: answers from a script, records what it got."""

    script: list = []
    received: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.script.pop(0) if self.script else "ok"
        self.received.append(json.loads(body))
        if kind == "timeout":
            time.sleep(0.6)
        status, text, headers = {
            "ok": (200, "ok", {}),
            "429": (429, "rate_limited", {"Retry-After": "1"}),
            "500": (500, "oops", {}),
            "timeout": (200, "ok", {}),
            "invalid": (400, "invalid_payload", {}),
        }[kind]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout case)
            self.wfile.write(text.encode())


@pytest.fixture
def slack_server():
    Slack.script, Slack.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/SECRETTOKEN", Slack
    server.shutdown()


def client(url, sleeps):
    return SlackClient(webhook_url=url, timeout_s=0.3, max_attempts=3, base_delay_s=0.01, sleep=sleeps.append)


def test_slack_200(slack_server):
    url, srv = slack_server
    client(url, []).post({"text": "hi"})
    assert srv.received == [{"text": "hi"}]


def test_slack_spaces_messages_about_a_second_apart(slack_server):
    url, srv = slack_server
    now, sleeps = [100.0], []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    c = SlackClient(webhook_url=url, timeout_s=1, sleep=sleep, clock=lambda: now[0])
    c.post({"text": "1"})
    now[0] += 0.25
    c.post({"text": "2"})  # 0.25 s after the first: waits the rest of the second
    now[0] += 5
    c.post({"text": "3"})  # long after: no wait
    assert sleeps == [pytest.approx(0.75)] and [m["text"] for m in srv.received] == ["1", "2", "3"]


def test_slack_429_honours_retry_after(slack_server):
    url, srv = slack_server
    srv.script = ["429", "ok"]
    sleeps = []
    client(url, sleeps).post({"text": "hi"})
    assert sleeps == [1.0] and len(srv.received) == 2


def test_slack_500_is_retried_with_backoff_then_fails_loudly(slack_server):
    url, srv = slack_server
    srv.script = ["500", "500", "500"]
    sleeps = []
    with pytest.raises(SlackError) as err:
        client(url, sleeps).post({"text": "hi"})
    assert err.value.status == 500 and len(sleeps) == 2 and len(srv.received) == 3


def test_slack_timeout_is_retried(slack_server):
    url, srv = slack_server
    srv.script = ["timeout", "ok"]
    client(url, []).post({"text": "hi"})
    assert len(srv.received) == 2


def test_slack_invalid_payload_is_not_retried(slack_server):
    url, srv = slack_server
    srv.script = ["invalid"]
    with pytest.raises(SlackError) as err:
        client(url, []).post({"text": "hi"})
    assert err.value.status == 400 and len(srv.received) == 1 and "invalid_payload" in str(err.value)


def test_slack_retry_after_longer_than_the_budget_fails_now(slack_server):
    url, srv = slack_server
    srv.script = ["429"]
    c = SlackClient(webhook_url=url, timeout_s=0.3, max_attempts=3, budget_s=0.5, sleep=lambda s: None)
    with pytest.raises(SlackError, match="no time left"):
        c.post({"text": "hi"})


def test_webhook_url_never_in_errors_or_repr():
    c = SlackClient(webhook_url="http://127.0.0.1:9/services/T/B/SECRETTOKEN", timeout_s=0.2, max_attempts=1)
    with pytest.raises(SlackError) as err:
        c.post({"text": "x"})
    assert "SECRETTOKEN" not in str(err.value) and "SECRETTOKEN" not in repr(c)


# ---------------------------------------------------------------- the job, on moto


@pytest.fixture
def job_factory(aws, ddb, prediction_log, slack_server):
    url, srv = slack_server
    settings = AlertsSettings()

    def make(**over):
        s = settings.model_copy(update={"min_requests": 20, **over})
        return AlertsJob(
            settings=s,
            reader=prediction_log,
            state=StateStore(dynamodb=ddb, table=aws.ref("AlertStateTable"), environment="test"),
            slack=lambda: SlackClient(webhook_url=url, timeout_s=1, max_attempts=2, sleep=lambda _s: None),
        )

    return make, srv


def traffic(prediction_log, ok, errors, latency=5.0):
    recs = [
        LogRecord(request_id=uuid7(), route="/predict", status=200, latency_ms=latency, model_version="v")
        for _ in range(ok)
    ]
    recs += [
        LogRecord(
            request_id=uuid7(),
            route="/predict",
            status=500,
            latency_ms=latency,
            model_version="v",
            error_class="internal_error",
        )
        for _ in range(errors)
    ]
    prediction_log.write(recs)


def test_alert_starts_once_persists_silently_and_resolves_once(job_factory, prediction_log):
    make, srv = job_factory
    job = make()
    traffic(prediction_log, 90, 10)
    r1 = job.run(AlertsEvent())
    assert [(p.kind, p.key) for p in r1.posted] == [("firing", "error_rate")]
    r2 = job.run(AlertsEvent())
    assert r2.posted == [] and "error_rate: still firing, in cooldown" in r2.skipped
    traffic(prediction_log, 400, 0)
    r3 = job.run(AlertsEvent())
    assert [p.kind for p in r3.posted] == ["resolved"]
    assert job.run(AlertsEvent()).posted == []
    texts = [m["text"] for m in srv.received]
    assert len(texts) == 2 and "ALERT" in texts[0] and "RESOLVED" in texts[1]
    assert srv.received[0]["blocks"][0]["type"] == "header"


def test_each_run_reads_the_webhook_afresh_so_a_rotated_secret_is_used(job_factory, prediction_log):
    make, srv = job_factory
    job = make()
    built = []
    first = job.slack
    job.slack = lambda: built.append(1) or first()
    traffic(prediction_log, 90, 10)
    assert len(job.run(AlertsEvent()).posted) == 1
    assert job.run(AlertsEvent()).posted == []  # nothing to post: the secret is not even read
    traffic(prediction_log, 400, 0)
    assert len(job.run(AlertsEvent()).posted) == 1
    assert len(built) == 2 and len(srv.received) == 2


def test_reminder_after_cooldown(job_factory, prediction_log):
    make, _ = job_factory
    traffic(prediction_log, 50, 50)
    clock = [time.time() + 1]
    job = make(cooldown_minutes=60)
    job.clock = lambda: clock[0]
    assert [(p.kind, p.key) for p in job.run(AlertsEvent()).posted] == [("firing", "error_rate")]
    clock[0] += 59 * 60
    end = datetime.now(UTC)
    assert job.run(AlertsEvent(window_end=end)).posted == []
    clock[0] += 2 * 60
    assert [(p.kind, p.key) for p in job.run(AlertsEvent(window_end=end)).posted] == [("reminder", "error_rate")]


def test_two_concurrent_runs_post_one_message(job_factory, prediction_log):
    make, srv = job_factory
    traffic(prediction_log, 50, 50)
    jobs = [make(), make()]
    barrier = threading.Barrier(2)
    results = []

    def run(j):
        barrier.wait()
        results.append(j.run(AlertsEvent()))

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r.posted) for r in results) == 1
    assert len(srv.received) == 1


def test_slack_failure_is_a_function_error_and_the_alert_is_retried(job_factory, prediction_log):
    make, srv = job_factory
    job = make()
    traffic(prediction_log, 50, 50)
    srv.script = ["500", "500"]
    with pytest.raises(SlackError):
        job.run(AlertsEvent())
    assert [p.kind for p in job.run(AlertsEvent()).posted] == ["firing"]


def test_drift_notifications_are_delivered_once(job_factory, prediction_log, aws, sqs):
    make, srv = job_factory
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    job = make(notifications_queue_url=url, expect_traffic=False)
    job.sqs = sqs
    note = drift_note()
    sqs.send_message(QueueUrl=url, MessageBody=dump_notification(note))
    sqs.send_message(QueueUrl=url, MessageBody=dump_notification(note))
    result = job.run(AlertsEvent())
    assert result.notifications_delivered == 1
    (msg,) = srv.received
    assert "DATA DRIFT" in msg["text"]
    buttons = [e["url"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert note.report_url in buttons


def drift_note(**over):
    fields = {
        "dedupe_key": "drift#a#b",
        "environment": "dev",
        "window_start": "2026-11-22T00:00:00Z",
        "window_end": "2026-11-23T00:00:00Z",
        "drift_share": 0.4,
        "threshold": 0.3,
        "drifted_features": ["credit_amount"],
        "n_features": 19,
        "rows_used": 400,
        "model_version": "v1",
        "report_url": "https://example.test/report.html?sig=1",
        "report_url_expires_at": "2026-11-30T00:00:00Z",
        "report_url_signed_by": "signer-user",
        "summary_key": "drift/reports/x/summary.json",
    }
    return DriftDetected(**{**fields, **over})


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        json.dumps({"type": "drift_detected", "dedupe_key": "d"}),
        json.dumps({"type": "quality_report", "dedupe_key": "q", "environment": "dev"}),
        json.dumps({**json.loads(dump_notification(drift_note())), "version": 2}),
    ],
    ids=["not-json", "missing-fields", "unknown-type", "unknown-version"],
)
def test_a_message_that_is_not_a_known_notification_is_left_for_the_dead_letter_queue_and_blocks_nothing(
    job_factory, aws, sqs, body
):
    make, srv = job_factory
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    job = make(notifications_queue_url=url, expect_traffic=False)
    job.sqs = sqs
    sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody=dump_notification(drift_note()))
    result = job.run(AlertsEvent())
    assert result.notifications_delivered == 1 and len(result.rejected) == 1
    assert [m["text"][:15] for m in srv.received] == ["[dev] DATA DRIF"]
    # Not deleted: the queue's redrive policy moves it to the dead-letter queue after a few receives.
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_a_failed_run_notice_reaches_slack_once(job_factory, aws, sqs):
    make, srv = job_factory
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    job = make(notifications_queue_url=url, expect_traffic=False)
    job.sqs = sqs
    note = RunFailed(
        dedupe_key="run_failed#drift#w", environment="dev", job="drift", error="log_read_failed", message="cannot read"
    )
    for _ in range(3):  # Lambda's retries of one failing run send it again
        sqs.send_message(QueueUrl=url, MessageBody=dump_notification(note))
    result = job.run(AlertsEvent())
    assert [p.kind for p in result.posted] == ["run_failed"]
    (msg,) = srv.received
    assert "drift run failed: log_read_failed" in msg["text"]


@pytest.mark.parametrize(
    ("signed_by", "says"),
    [
        ("signer-user", "report link valid until 2026-11-30T00:00:00Z"),
        ("function-role", "it may stop working within hours"),
        ("link-token", "report link lasts 7 days (until 2026-11-30T00:00:00Z); each opening is recorded"),
    ],
)
def test_drift_message_says_how_long_the_link_really_lasts(signed_by, says, monkeypatch):
    from creditwatch_alerts import messages
    from creditwatch_alerts.messages import drift_message

    class Now(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 23, 0, 0, 5, tzinfo=UTC)

    monkeypatch.setattr(messages, "datetime", Now)
    msg = drift_message(drift_note(report_url="https://x.test/r", report_url_signed_by=signed_by), None)
    (context,) = [b for b in msg["blocks"] if b["type"] == "context"]
    assert says in context["elements"][0]["text"]


def estimated(holds: bool, auc: float = 0.77) -> EstimatedQuality:
    return EstimatedQuality(
        auc=Estimate(value=auc, low=auc - 0.03, high=auc + 0.03),
        holds=holds,
        validation_auc=0.782,
        rows=400,
        reasons=["estimated AUC vs validation"],
    )


@pytest.mark.parametrize(
    ("estimate", "headline", "severity", "says"),
    [
        (
            estimated(True),
            ":warning: [dev] DATA DRIFT (warning): 1 of 19 features drifted; estimated quality holds",
            "severity warning",
            "estimated quality *holds*",
        ),
        (
            estimated(False, 0.65),
            ":rotating_light: [dev] DATA DRIFT + ESTIMATED QUALITY DROP: 1 of 19 features drifted",
            "severity critical",
            "estimated quality *does not hold*",
        ),
    ],
    ids=["holds-warning", "dropped-critical"],
)
def test_the_drift_note_reads_as_a_warning_while_estimated_quality_holds_and_critical_when_it_drops(
    estimate, headline, severity, says
):
    from creditwatch_alerts.messages import drift_message

    msg = drift_message(drift_note(estimated_quality=estimate), None)
    header, section = msg["blocks"][0], msg["blocks"][1]
    (context,) = [b for b in msg["blocks"] if b["type"] == "context"]
    assert header["text"]["text"] == headline
    assert says in section["text"]["text"] and f"Estimated AUC *{estimate.auc.value:.3f}*" in section["text"]["text"]
    assert severity in context["elements"][0]["text"] and "no concept drift" in context["elements"][0]["text"]
    assert f"[{severity.split()[1]}] estimated AUC {estimate.auc.value:.3f} vs validation 0.782" in msg["text"]


def test_a_drift_note_from_a_sender_without_the_estimate_still_parses_and_reads_as_before():
    from creditwatch_alerts.messages import drift_message

    body = json.loads(dump_notification(drift_note()))
    body.pop("estimated_quality")
    note = parse_notification(json.dumps(body))
    assert isinstance(note, DriftDetected) and note.estimated_quality is None
    msg = drift_message(note, None)
    assert msg["blocks"][0]["text"]["text"] == ":chart_with_upwards_trend: [dev] DATA DRIFT: 1 of 19 features drifted"
    assert "severity" not in json.dumps(msg)
    # And the new field survives the queue both ways.
    rich = parse_notification(dump_notification(drift_note(estimated_quality=estimated(False, 0.6))))
    assert isinstance(rich, DriftDetected) and rich.estimated_quality == estimated(False, 0.6)


def test_a_critical_drift_note_reaches_slack_once_through_the_queue(job_factory, aws, sqs):
    make, srv = job_factory
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    job = make(notifications_queue_url=url, expect_traffic=False)
    job.sqs = sqs
    note = drift_note(estimated_quality=estimated(False, 0.6))
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=dump_notification(note))
    assert job.run(AlertsEvent()).notifications_delivered == 1
    (msg,) = srv.received
    assert "ESTIMATED QUALITY DROP" in msg["blocks"][0]["text"]["text"] and "[critical]" in msg["text"]


def test_drift_message_links_the_report_history_when_the_note_carries_it_and_older_notes_still_parse():
    from creditwatch_alerts.messages import drift_message
    from creditwatch_common.notifications import parse_notification

    msg = drift_message(drift_note(index_url="https://x.test/reports/index?t=1.2.abc"), None)
    (actions,) = [b for b in msg["blocks"] if b["type"] == "actions"]
    buttons = {e["text"]["text"]: e["url"] for e in actions["elements"]}
    assert buttons == {
        "Open drift report": "https://example.test/report.html?sig=1",
        "Report history": "https://x.test/reports/index?t=1.2.abc",
    }
    assert msg["text"].endswith("history: https://x.test/reports/index?t=1.2.abc")
    # A note queued by a drift function that predates the history: no button, no failure.
    body = drift_note().model_dump(exclude={"index_url"})
    old = parse_notification(json.dumps(body))
    (actions,) = [b for b in drift_message(old, None)["blocks"] if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["Open drift report"]


def test_webhook_url_never_logged_by_the_handler(aws, caplog, capsys, monkeypatch):
    import boto3

    secret_url = "http://127.0.0.1:9/services/T/B/SUPERSECRET"
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=aws.ref("SlackWebhookSecret"), SecretString=json.dumps({"webhook_url": secret_url})
    )
    from creditwatch_alerts.app import build
    from creditwatch_common.aws import AwsClients
    from creditwatch_common.log import PredictionLog

    service = build(AlertsSettings(), AwsClients())

    log = PredictionLog(
        dynamodb=boto3.client("dynamodb", region_name="us-east-1"),
        table=aws.ref("PredictionsTable"),
        shards=int(aws.parameters["LogShards"]),
    )
    traffic(log, 10, 30)

    Ctx = functools.partial(LambdaContext, "AlertsFunction", memory_limit_in_mb=512, request_id="r")

    # Everything at INFO (what Lambda keeps), and the function's own logger at DEBUG.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="creditwatch-alerts")
    with pytest.raises(SlackError):
        service.handler({"source": "test"}, Ctx())
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    assert "SUPERSECRET" not in everything
    assert "127.0.0.1:9" not in everything


def test_window_excludes_older_traffic(job_factory, prediction_log):
    make, _ = job_factory
    old = int((datetime.now(UTC) - timedelta(minutes=30)).timestamp() * 1000)
    prediction_log.write(
        [
            LogRecord(
                prediction_id=uuid7(now_ms=old + i),
                request_id="x",
                route="/predict",
                status=500,
                latency_ms=1,
                model_version="v",
            )
            for i in range(50)
        ]
    )
    r = make().run(AlertsEvent())
    assert r.stats.requests == 0 and [c.key for c in r.conditions if c.firing] == ["no_traffic"]


def test_outcome_requests_count_apart_and_never_move_the_error_rate_or_latency():
    scoring = [RequestRow(200, 10.0, "/predict")] * 95 + [RequestRow(500, 10.0, "/predict-batch")] * 5
    outcomes = [RequestRow(503, 9000.0, "/outcomes")] * 50
    s = WindowStats.from_records(scoring + outcomes, "s", "e")
    assert s.requests == 100 and s.server_errors == 5 and s.outcome_requests == 50
    assert s.latency_ms["p99"] == 10.0
    assert firing(s) == set()
    # The same 50 slow 5xx on a scoring route would fire both.
    assert firing(stats_of([200] * 95 + [500] * 5 + [503] * 50)) == {"error_rate"}


def test_the_alerts_job_reads_the_route_and_leaves_outcome_traffic_out(job_factory, prediction_log):
    make, srv = job_factory
    traffic(prediction_log, 100, 0)
    prediction_log.write(
        [
            LogRecord(request_id=uuid7(), route="/outcomes", status=503, latency_ms=8000.0, model_version="v")
            for _ in range(40)
        ]
    )
    r = make().run(AlertsEvent())
    assert r.stats.requests == 100 and r.stats.outcome_requests == 40
    assert r.stats.server_errors == 0 and r.posted == [] and srv.received == []
