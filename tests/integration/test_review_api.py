"""Referral and the review API on a moto server: real RS256 tokens of a moto Cognito pool, its keys over HTTP.

The predict function is built as its handler builds it, with the template's review settings pointed at
the pool (as `creditwatch serve` points them at the local stack's); DynamoDB through a FaultProxy, so a
review store that hangs is a real hang.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faults import FaultProxy, threaded_moto
from lambda_context import LambdaContext

from creditwatch.local.resources import create_resources
from creditwatch.local.reviewers import ReviewerPool, ensure_pool, issue_token
from creditwatch.local.template import Template
from creditwatch_common.aws import AwsClients
from creditwatch_common.log import PredictionLog
from creditwatch_common.review import review_partition_key
from creditwatch_predict.app import PredictService, build
from creditwatch_predict.schemas import documented_example
from creditwatch_predict.settings import PredictSettings

REGION = "us-east-1"


def aws_client(service: str, endpoint: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return session.client(service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 2}))


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with threaded_moto() as url:
        yield url


@pytest.fixture(scope="module")
def stack(moto_server: str) -> tuple[Template, PredictionLog, ReviewerPool]:
    template = Template(endpoint=moto_server)
    create_resources(template, lambda service: aws_client(service, moto_server), webhook_url="http://127.0.0.1:9/")
    sqs = aws_client("sqs", moto_server)
    log = PredictionLog(
        dynamodb=aws_client("dynamodb", moto_server),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        sqs=sqs,
        spill_queue_url=sqs.get_queue_url(QueueName=template.physical_name("SpillQueue"))["QueueUrl"],
    )
    pool = ensure_pool(aws_client("cognito-idp", moto_server), "reviewers", endpoint=moto_server)
    return template, log, pool


@pytest.fixture
def proxy(moto_server: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server) as p:
        yield p


@pytest.fixture
def service(
    stack: tuple[Template, PredictionLog, ReviewerPool], proxy: FaultProxy, model: Any, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., PredictService]:
    template, log, pool = stack
    # A fresh queue per test: the cases of earlier tests are decided away.
    table = template.ref("ReviewCasesTable")
    for item in log.dynamodb.scan(TableName=table)["Items"]:
        log.dynamodb.delete_item(TableName=table, Key={"case_id": item["case_id"]})

    def make(**review: Any) -> PredictService:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", proxy.url)
        settings = PredictSettings.model_validate(
            {**template.function("PredictFunction").environment, **pool.environment("reviewers")}
        ).model_copy(
            update={
                "spill_queue_url": log.spill_queue_url,
                "aws_connect_timeout_s": 0.5,
                "aws_read_timeout_s": 0.5,
                # The rules as an operator turns them on (the template's defaults leave them off):
                # the band and the training range; the audit only where a test asks for it.
                "review_band": 0.02,
                "review_out_of_range": True,
                "review_audit_share": 0.0,
                **review,
            }
        )
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        return build(settings, AwsClients(session), model=model)

    return make


@pytest.fixture
def token(stack: tuple[Template, PredictionLog, ReviewerPool], moto_server: str) -> Callable[..., str]:
    _, _, pool = stack
    cognito = aws_client("cognito-idp", moto_server)
    return lambda name="alice", groups=("reviewers",): issue_token(cognito, pool, name, groups)


def http(
    svc: PredictService, event: Any, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    ev = event("predict-valid.json")
    ev["rawPath"] = path.split("?")[0]
    ev["rawQueryString"] = path.partition("?")[2]
    ev["requestContext"]["http"]["method"] = method
    ev["requestContext"]["http"]["path"] = ev["rawPath"]
    ev["body"] = None if body is None else json.dumps(body)
    ev["headers"] = {"content-type": "application/json"}
    if token:
        ev["headers"]["authorization"] = f"Bearer {token}"
    resp = svc.handler(ev, LambdaContext(remaining_s=8.0))
    headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
    return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None, headers


def borderline(model: Any) -> dict[str, Any]:
    """The first training row whose P(good) is within 0.02 of the threshold (typed as the API validates it)."""
    import csv

    from creditwatch_model import REFERENCE_FILE, model_dir

    with (model_dir() / REFERENCE_FILE).open(newline="") as fh:
        for row in csv.DictReader(fh):
            app: dict[str, Any] = {}
            for f in model.schema.features:
                app[f.name] = row[f.name] if f.is_categorical else (int if f.dtype == "int" else float)(row[f.name])
            if abs(model.score([app])[0].probability_good_credit - model.threshold) <= 0.02:
                return app
    raise AssertionError("no borderline row")


def refer(svc: PredictService, event: Any, model: Any) -> dict[str, Any]:
    status, body, _ = http(svc, event, "POST", "/predict", borderline(model))
    assert status == 200 and body["decision"] == "refer", body
    return body  # type: ignore[no-any-return]


def test_a_borderline_application_is_answered_refer_with_the_models_decision_reasons_and_a_queued_case(
    service, event, model, stack, token
):
    svc = service()
    body = refer(svc, event, model)
    assert body["model_decision"] == model.score([borderline(model)])[0].decision
    assert body["referral"] == ["band"] and body["reasons"] and body["probability_good_credit"]
    record = stack[1].get(body["prediction_id"])
    # The log keeps the model's decision (drift, quality and fairness judge the model) and names the case.
    assert record is not None and record.decision == body["model_decision"] and record.case_id == body["case_id"]
    status, queue, _ = http(svc, event, "GET", "/reviews?status=pending", token=token())
    assert status == 200 and [c["case_id"] for c in queue["cases"]] == [body["case_id"]]


@pytest.mark.parametrize("rule", ["review_band", "review_out_of_range", "review_novelty", "review_audit_share"])
def test_each_referral_rule_at_zero_refers_nothing_it_would_have(service, event, model, rule):
    # Borderline, outside the training range, and (so far out) unlike the training data as a whole.
    app = {**borderline(model), "duration_in_month": 120}
    on = {"review_band": 0.5, "review_out_of_range": True, "review_novelty": 1.0, "review_audit_share": 1.0}
    status, body, _ = http(service(**on), event, "POST", "/predict", app)
    assert status == 200 and set(body["referral"]) == {"band", "out_of_range", "novelty", "audit"}
    status, body, _ = http(service(**{**on, rule: 0}), event, "POST", "/predict", app)
    off = {
        "review_band": "band",
        "review_out_of_range": "out_of_range",
        "review_novelty": "novelty",
        "review_audit_share": "audit",
    }[rule]
    assert status == 200 and off not in body["referral"] and len(body["referral"]) == 3


def test_a_value_outside_the_training_range_is_referred_and_an_ordinary_one_is_not(service, event, model):
    svc = service(review_band=0.0)
    app = documented_example(model.schema)
    _, plain, _ = http(svc, event, "POST", "/predict", app)
    assert plain["decision"] in ("approve", "refuse") and "case_id" not in plain
    _, odd, _ = http(svc, event, "POST", "/predict", {**app, "age_in_years": 99})
    assert odd["decision"] == "refer" and odd["referral"] == ["out_of_range"]


def test_the_queue_is_oldest_first_and_paged(service, event, model, token):
    svc = service()
    ids = [refer(svc, event, model)["case_id"] for _ in range(3)]
    seen, cursor = [], None
    while True:
        status, page, _ = http(
            svc,
            event,
            "GET",
            "/reviews?status=pending&limit=2" + (f"&cursor={cursor}" if cursor else ""),
            token=token(),
        )
        assert status == 200 and len(page["cases"]) <= 2
        seen += [c["case_id"] for c in page["cases"]]
        assert all(c["age_seconds"] >= 0 for c in page["cases"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids


def test_a_case_shows_the_application_its_reasons_and_a_counterfactual_of_a_refusal(service, event, model, token):
    svc = service()
    body = refer(svc, event, model)
    status, case, _ = http(svc, event, "GET", f"/reviews/{body['case_id']}", token=token())
    assert status == 200 and case["application"] == borderline(model)
    assert [r["feature"] for r in case["reasons"]] == [r["feature"] for r in body["reasons"]]
    assert case["model_decision"] == body["model_decision"] and case["status"] == "pending"
    if case["model_decision"] == "refuse":
        assert case["counterfactual"]["status"] in ("found", "none_found")


def test_a_decision_is_recorded_once_on_the_case_the_record_and_an_event_with_the_tokens_identity(
    service, event, model, stack, token
):
    svc = service()
    body = refer(svc, event, model)
    other = "approve" if body["model_decision"] == "refuse" else "refuse"
    decision = {"decision": other, "reason_code": "verified_income", "note": "payslips seen"}
    status, decided, _ = http(svc, event, "POST", f"/reviews/{body['case_id']}", decision, token=token("carol"))
    assert status == 200 and decided["result"] == "decided" and decided["decided_by"] == "carol"
    assert decided["override"] is True
    record = stack[1].get(body["prediction_id"])
    assert record is not None
    assert (record.final_decision, record.decided_by, record.override) == (other, "carol", True)
    assert record.decided_at == decided["decided_at"] and record.decision == body["model_decision"]
    assert len(review_events(stack[1], body["prediction_id"])) == 1
    # It left the queue.
    _, queue, _ = http(svc, event, "GET", "/reviews", token=token())
    assert body["case_id"] not in [c["case_id"] for c in queue["cases"]]


def test_the_body_cannot_name_the_reviewer(service, event, model, token):
    svc = service()
    body = refer(svc, event, model)
    forged = {"decision": "approve", "reason_code": "other", "decided_by": "mallory"}
    status, answer, _ = http(svc, event, "POST", f"/reviews/{body['case_id']}", forged, token=token())
    assert status == 422 and answer["error"]["details"][0]["field"] == "decided_by"


def test_a_second_decision_is_409_with_the_first_and_a_correction_is_a_record_of_its_own(
    service, event, model, stack, token
):
    svc = service()
    body = refer(svc, event, model)
    path = f"/reviews/{body['case_id']}"
    first = {"decision": "approve", "reason_code": "collateral_or_guarantor"}
    assert http(svc, event, "POST", path, first, token=token("alice"))[0] == 200
    status, answer, _ = http(
        svc, event, "POST", path, {"decision": "refuse", "reason_code": "other"}, token=token("bob")
    )
    assert status == 409 and answer["error"]["code"] == "already_decided"
    assert (answer["case"]["decision"], answer["case"]["decided_by"]) == ("approve", "alice")
    fix = {"decision": "refuse", "reason_code": "affordability_concern", "correction": True}
    status, corrected, _ = http(svc, event, "POST", path, fix, token=token("bob"))
    assert status == 200 and corrected["result"] == "corrected" and corrected["decided_by"] == "bob"
    assert [h["decision"] for h in corrected["history"]] == ["approve"]
    assert stack[1].get(body["prediction_id"]).final_decision == "refuse"  # type: ignore[union-attr]
    events = review_events(stack[1], body["prediction_id"])
    assert [(e["decision"]["S"], e["correction"]["BOOL"]) for e in events] == [("approve", False), ("refuse", True)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "maybe", "reason_code": "other"}, "decision"),
        ({"decision": "approve", "reason_code": "gut_feeling"}, "reason_code"),
    ],
)
def test_a_decision_that_is_not_approve_or_refuse_or_an_unknown_reason_is_422(
    service, event, model, token, body, field
):
    svc = service()
    case_id = refer(svc, event, model)["case_id"]
    status, answer, _ = http(svc, event, "POST", f"/reviews/{case_id}", body, token=token())
    assert status == 422 and answer["error"]["details"][0]["field"] == field


def test_an_unknown_case_is_404(service, event, token):
    status, answer, _ = http(service(), event, "GET", "/reviews/019ac4a2-7b3e-7c51-9f0e-2d4b8a6c1e90", token=token())
    assert status == 404 and answer["error"]["code"] == "case_not_found"


def test_a_token_without_the_reviewer_group_is_403_and_no_token_or_a_forged_one_is_401(service, event, token):
    svc = service()
    status, answer, _ = http(svc, event, "GET", "/reviews", token=token("dave", ()))
    assert status == 403 and answer["error"]["code"] == "forbidden"
    assert http(svc, event, "GET", "/reviews")[0] == 401
    good = token()
    head, payload, signature = good.split(".")
    claims = json.loads(_b64(payload))
    claims["cognito:username"] = "mallory"
    forged = ".".join([head, _unb64(json.dumps(claims)), signature])
    assert http(svc, event, "GET", "/reviews", token=forged)[0] == 401


def test_a_review_store_that_hangs_is_503_with_retry_after_and_the_retry_records_the_decision_once(
    service, event, model, stack, token, proxy
):
    svc = service()
    body = refer(svc, event, model)
    path = f"/reviews/{body['case_id']}"
    decision = {"decision": "approve", "reason_code": "verified_income"}
    proxy.inject("TransactWriteItems", "hang", hang_seconds=5)
    started = time.monotonic()
    status, answer, headers = http(svc, event, "POST", path, decision, token=token())
    assert status == 503 and answer["error"]["code"] == "review_unavailable" and headers["retry-after"]
    assert time.monotonic() - started < 8.0
    proxy.clear()
    assert stack[1].get(body["prediction_id"]).final_decision is None  # type: ignore[union-attr]
    status, decided, _ = http(svc, event, "POST", path, decision, token=token())
    assert status == 200 and decided["result"] == "decided"
    assert len(review_events(stack[1], body["prediction_id"])) == 1


def review_events(log: PredictionLog, prediction_id: str) -> list[dict[str, Any]]:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out = []
    for shard in range(log.shards):
        items = log.dynamodb.query(
            TableName=log.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": review_partition_key(day, shard)}},
        )["Items"]
        out += [i for i in items if i["prediction_id"]["S"] == prediction_id]
    return sorted(out, key=lambda i: i["sk"]["S"])


def _b64(part: str) -> str:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def _unb64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_review_decisions_reach_the_lake_append_only_and_log_erase_removes_them_with_the_record(
    service, event, model, stack, token, moto_server
):
    from creditwatch import lookups
    from creditwatch_analytics.lake.export import LakeExporter, hour_key
    from creditwatch_analytics.lake.reviews import REVIEWS_PREFIX
    from creditwatch_analytics.lake.schema import LakeSchema

    template, log, _ = stack
    s3, bucket = aws_client("s3", moto_server), template.ref("LakeBucket")
    svc = service()
    body = refer(svc, event, model)
    path = f"/reviews/{body['case_id']}"
    assert http(svc, event, "POST", path, {"decision": "approve", "reason_code": "other"}, token=token())[0] == 200
    fix = {"decision": "refuse", "reason_code": "policy_rule", "correction": True}
    assert http(svc, event, "POST", path, fix, token=token())[0] == 200
    LakeExporter(reader=log, s3=s3, bucket=bucket, schema=LakeSchema.of(model.schema.features)).export(1)
    import io

    import pyarrow.parquet as pq

    key = hour_key(REVIEWS_PREFIX, datetime_now())
    rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()
    mine = [r for r in rows if r["prediction_id"] == body["prediction_id"]]
    assert [(r["decision"], r["correction"], r["previous"]) for r in mine] == [
        ("approve", False, None),
        ("refuse", True, "approve"),
    ]
    erased = lookups.erase(
        log, body["prediction_id"], lake_s3=s3, lake_bucket=bucket, review_table=template.ref("ReviewCasesTable")
    )
    assert erased["stores"]["ReviewCasesTable"] == {
        "reached": True,
        "table": template.ref("ReviewCasesTable"),
        "items_deleted": 1,
        "review_events_erased": 2,
    }
    assert review_events(log, body["prediction_id"]) == []
    assert (
        log.dynamodb.get_item(TableName=template.ref("ReviewCasesTable"), Key={"case_id": {"S": body["case_id"]}}).get(
            "Item"
        )
        is None
    )
    left = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    if left:
        rows = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()
        assert all(r["prediction_id"] != body["prediction_id"] for r in rows)


def datetime_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
