"""The predict function through the `creditwatch` CLI on a local stack, as a developer uses it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).resolve().parents[2] / "events"


def free_port() -> int:
    """A port nobody listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_invoke_scores_the_seed_example_and_logs_it(local_stack: Any) -> None:
    out = local_stack.cli.json("invoke", "PredictFunction", "-e", str(EVENTS / "predict-valid.json"))
    assert out["statusCode"] == 200
    body = json.loads(out["body"])
    assert body["decision"] in ("approve", "refuse")
    record = local_stack.cli.json("log", "get", body["prediction_id"])
    assert record["status"] == 200 and record["route"] == "/predict"
    assert record["features"]["status_of_existing_checking_account"] == "A12"
    assert record["probability_good_credit"] == pytest.approx(body["probability_good_credit"], abs=1e-6)


def test_invalid_input_gets_a_precise_4xx_and_is_logged_too(local_stack: Any) -> None:
    out = local_stack.cli.json(
        "invoke", "PredictFunction", "-e", str(EVENTS / "predict-invalid-code-and-range.json"), check=False
    )
    assert out["statusCode"] == 422
    body = json.loads(out["body"])
    assert body["error"]["code"] == "validation_error"
    fields = {d.get("field") for d in body["error"]["details"]}
    assert fields and None not in fields
    assert "Traceback" not in out["body"]
    tail = local_stack.cli("log", "tail", "--minutes", "5").stdout
    assert " 422 " in tail and "validation_error" in tail


def test_invoke_reads_the_event_from_stdin_with_dash_e_dash(local_stack: Any) -> None:
    out = local_stack.cli.json("invoke", "PredictFunction", "-e", "-", stdin=(EVENTS / "health.json").read_text())
    assert out["statusCode"] == 200 and json.loads(out["body"])["model_loaded"] is True


def test_unknown_function_is_a_clear_error(local_stack: Any) -> None:
    proc = local_stack.cli("invoke", "NoSuchFunction", "-e", str(EVENTS / "health.json"), check=False)
    assert proc.returncode != 0
    assert "PredictFunction" in proc.stderr  # lists the functions there are


def test_serve_exposes_the_api_and_swagger_ui(local_stack: Any) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [local_stack.cli.exe, "serve", "--port", str(port)],
        env=local_stack.cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        docs = urllib.request.urlopen(f"{base}/docs", timeout=5).read().decode()
        assert "swagger-ui" in docs.lower()
        seed = json.loads(json.loads((EVENTS / "predict-valid.json").read_text())["body"])
        request = urllib.request.Request(
            f"{base}/predict", data=json.dumps(seed).encode(), headers={"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=5).read())
        assert answer["model_version"] and 0 <= answer["probability_good_credit"] <= 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_local_up_creates_the_failure_queues_with_their_redrives_and_the_alarm_topic(
    local_stack: Any, stack_client: Any
) -> None:
    from creditwatch.local.template import Template

    # A second `local up` on the running stack leaves everything as it is (redrive policies included).
    port = local_stack.endpoint.rsplit(":", 1)[1]
    out = local_stack.cli("local", "up", "--port", port, "--sink-port", str(local_stack.sink_port)).stdout
    for lid in ("FailedRunsQueue", "SpillDeadLetterQueue", "NotificationsDeadLetterQueue", "AlarmTopic"):
        assert lid in out
    template = Template(endpoint=local_stack.endpoint)
    sqs = stack_client("sqs")
    for queue, dlq, receives in (
        ("SpillQueue", "SpillDeadLetterQueue", 10),
        ("NotificationsQueue", "NotificationsDeadLetterQueue", 5),
    ):
        attrs = sqs.get_queue_attributes(QueueUrl=template.ref(queue), AttributeNames=["All"])["Attributes"]
        assert json.loads(attrs["RedrivePolicy"]) == {
            "deadLetterTargetArn": template.get_att(dlq, "Arn"),
            "maxReceiveCount": receives,
        }
    for queue in ("FailedRunsQueue", "SpillDeadLetterQueue", "NotificationsDeadLetterQueue"):
        attrs = sqs.get_queue_attributes(QueueUrl=template.ref(queue), AttributeNames=["All"])["Attributes"]
        assert attrs["MessageRetentionPeriod"] == "1209600"
    topic = stack_client("sns").get_topic_attributes(TopicArn=template.ref("AlarmTopic"))["Attributes"]
    assert topic["KmsMasterKeyId"] == template.ref("AlarmTopicKey")
