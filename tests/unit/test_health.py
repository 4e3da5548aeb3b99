"""GET /health stays cheap; GET /health?deep=true checks the log table and the spill queue, against real faults.

The faults are sockets (tests/faults.py): a server that accepts and never answers, one that resets every
connection. The check's clients are pointed at them; moto (in process) stands for a dependency that is up.
"""

import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faults import HangingServer, ResettingServer
from lambda_context import LambdaContext as Ctx
from mangum import Mangum

from creditwatch_predict.health import Readiness, health_client_config

BUDGET_S = 1.5
# The check answers within its budget; this much more for threads scheduled late on a loaded machine.
SLACK_S = 0.5


@pytest.fixture
def built(aws, prediction_log, model) -> Any:
    """The predict function as the template configures it, on moto."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url})
    return build(settings, AwsClients(), model=model)


def client(service: str, endpoint: str | None = None) -> Any:
    """A client as the check builds them (one attempt, short timeouts), at moto or at a fault's endpoint."""
    cfg = Config(**health_client_config(BUDGET_S))
    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, config=cfg)


def health(built: Any, readiness: Readiness | None, query: str, event: Any) -> tuple[int, dict[str, Any], float]:
    """GET /health?<query> through Mangum, on the app built around `readiness` (None: the one build() made)."""
    from creditwatch_predict.api import create_app

    app = built.app
    if readiness is not None:
        app = create_app(built.model, built.settings, built.writer, built.obs, readiness=readiness)
    ev = event("health.json")
    ev["rawQueryString"] = query
    ev["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    started = time.monotonic()
    resp = Mangum(app, lifespan="off")(ev, Ctx())
    return resp["statusCode"], json.loads(resp["body"]), time.monotonic() - started


def readiness(built: Any, dynamodb: Any, sqs: Any) -> Readiness:
    return Readiness(
        dynamodb=dynamodb,
        table=built.settings.predictions_table,
        sqs=sqs,
        spill_queue_url=built.settings.spill_queue_url,
        budget_s=BUDGET_S,
    )


def test_deep_health_answers_200_with_each_check_ok_when_both_answer(built, event):
    status, body, _ = health(built, None, "deep=true", event)
    assert status == 200 and body["status"] == "healthy", body
    assert body["checks"] == {"log_table": "ok", "spill_queue": "ok"}


def test_deep_health_with_the_log_table_hanging_answers_503_saying_which(built, event):
    with HangingServer() as hanging:
        status, body, _ = health(
            built, readiness(built, client("dynamodb", hanging.url), client("sqs")), "deep=true", event
        )
    assert status == 503 and body["status"] == "unhealthy"
    assert body["checks"]["spill_queue"] == "ok"
    assert body["checks"]["log_table"].startswith("unreachable: ")


def test_deep_health_with_the_spill_queue_refusing_says_so_and_why(built, event):
    with ResettingServer() as resetting:
        status, body, _ = health(
            built, readiness(built, client("dynamodb"), client("sqs", resetting.url)), "deep=true", event
        )
    assert status == 503 and body["checks"]["log_table"] == "ok"
    assert body["checks"]["spill_queue"].startswith("unreachable: ") and "Error" in body["checks"]["spill_queue"]


def test_the_check_with_both_dependencies_hanging_lists_both_within_its_budget(built):
    with HangingServer() as a, HangingServer() as b:
        check = readiness(built, client("dynamodb", a.url), client("sqs", b.url))
        _ = check.dynamodb.get_item, check.sqs.get_queue_attributes  # built, as the check builds them first
        started = time.monotonic()
        checks = check.check()
        took = time.monotonic() - started
    assert set(checks) == {"log_table", "spill_queue"}
    # The clients' read timeout (2/3 of the budget) or the budget itself, whichever ends the wait first.
    assert all(v.startswith("unreachable: ") for v in checks.values()), checks
    # The request around it (Mangum, the request log) is not timed here: on a loaded CI runner it varies.
    assert took < BUDGET_S + SLACK_S


def test_plain_health_makes_no_call_to_the_dependencies(built, event):
    with HangingServer() as hanging:
        status, body, _ = health(
            built, readiness(built, client("dynamodb", hanging.url), client("sqs", hanging.url)), "", event
        )
        assert hanging.connections == 0
    assert status == 200 and body["status"] == "healthy" and "checks" not in body
