"""The predict function through its Lambda handler, on the events of events/, with moto behind it."""

import copy
import json

import pytest
from lambda_context import LambdaContext as Ctx
from predict_calls import call, logged

from creditwatch_predict.schemas import SEED_EXAMPLE


def test_seed_example_verbatim_is_scored_and_logged(handler, event, prediction_log, model):
    status, body, _ = call(handler, event("predict-valid.json"))
    assert status == 200
    assert set(body) == {
        "prediction",
        "probability_good_credit",
        "probability_bad_credit",
        "decision",
        "risk_level",
        "confidence",
        "model_version",
        "prediction_id",
        "timestamp",
        "explanation",
        "reasons",
    }
    assert body["model_version"] == model.version
    assert body["probability_good_credit"] + body["probability_bad_credit"] == pytest.approx(1)
    assert body["timestamp"].endswith("Z")
    record = prediction_log.get(body["prediction_id"]).model_dump()
    assert record["status"] == 200 and record["route"] == "/predict"
    assert record["features"]["credit_amount"] == 5000.0
    assert record["features"]["status_of_existing_checking_account"] == "A12"
    assert record["probability_good_credit"] == body["probability_good_credit"]
    assert record["request_id"] == "evt-predict-valid" and record["latency_ms"] > 0


def test_snake_case_and_aliases_give_the_same_answer(handler, event):
    alias = event("predict-valid.json")
    snake = copy.deepcopy(alias)
    from creditwatch_model import load_model

    names = {f.alias: f.name for f in load_model().schema.features}
    snake["body"] = json.dumps({names[k]: v for k, v in SEED_EXAMPLE.items()})
    a, b = call(handler, alias)[1], call(handler, snake)[1]
    assert a["probability_good_credit"] == b["probability_good_credit"]
    assert call(handler, event("predict-valid-snake-case.json"))[0] == 200


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("predict-invalid-code-and-range.json", 422, "validation_error"),
        ("predict-missing-field.json", 422, "validation_error"),
        ("predict-extra-field.json", 422, "validation_error"),
        ("predict-wrong-types.json", 422, "validation_error"),
        ("predict-malformed-json.json", 400, "invalid_json"),
        ("predict-empty-body.json", 400, "empty_body"),
        ("predict-batch-empty.json", 422, "validation_error"),
        ("predict-batch-invalid-item.json", 422, "validation_error"),
        ("not-found.json", 404, "not_found"),
    ],
)
def test_bad_input_gets_a_precise_4xx_that_is_logged(handler, event, prediction_log, name, status, code):
    got, body, _ = call(handler, event(name))
    assert got == status
    assert body["error"]["code"] == code and body["request_id"] == f"evt-{name.removesuffix('.json')}"
    assert "Traceback" not in json.dumps(body)
    (record,) = logged(prediction_log)
    assert record["status"] == status and record["error_class"] == code
    assert record["raw_body"] is None and "features" not in {k for k, v in record.items() if v is not None}
    sent = event(name).get("body")
    if name.startswith("predict") and sent:
        assert record["body_bytes"] == len(sent.encode())
    if code == "validation_error":
        # What was wrong and where, never the values.
        assert record["rejected_count"] == len(body["error"]["details"])
        assert [r["type"] for r in record["rejected_fields"]] == [d["type"] for d in body["error"]["details"]]


def test_validation_details_name_fields_and_allowed_codes(handler, event):
    _, body, _ = call(handler, event("predict-invalid-code-and-range.json"))
    by_field = {d["field"]: d for d in body["error"]["details"]}
    assert by_field["status_of_existing_checking_account"]["allowed"] == ["A11", "A12", "A13", "A14"]
    assert by_field["age_in_years"]["type"] == "greater_than_equal"
    _, body, _ = call(handler, event("predict-missing-field.json"))
    assert body["error"]["details"][0]["field"] == "job" and body["error"]["details"][0]["type"] == "missing"
    _, body, _ = call(handler, event("predict-extra-field.json"))
    assert body["error"]["details"][0]["message"] == "Unknown field 'present_residence_since'"
    _, body, _ = call(handler, event("predict-wrong-types.json"))
    assert {d["type"] for d in body["error"]["details"]} == {"int_type", "greater_than"}


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("Duration in month", 1, True),
        ("Duration in month", 120, True),
        ("Duration in month", 0, False),
        ("Duration in month", 121, False),
        ("Credit amount", 0.01, True),
        ("Credit amount", 0, False),
        ("Installment rate in percentage of disposable income", 4, True),
        ("Installment rate in percentage of disposable income", 5, False),
        ("Age in years", 18, True),
        ("Age in years", 100, True),
        ("Age in years", 101, False),
        ("Number of existing credits at this bank", 5, False),
        ("Number of people being liable to provide maintenance for", 2, True),
        ("Number of people being liable to provide maintenance for", 3, False),
        ("Credit amount", 5000, True),
        ("Credit amount", 1_000_000, True),
        ("Credit amount", 1_000_001, False),
        ("Duration in month", 12.5, False),
        ("Duration in month", True, False),
        ("Duration in month", None, False),
        ("Purpose", "A47", True),
        ("Purpose", "a43", False),
        ("Housing", 152, False),
    ],
)
def test_seed_ranges_and_types(handler, event, field, value, ok):
    ev = event("predict-valid.json")
    ev["body"] = json.dumps({**SEED_EXAMPLE, field: value})
    assert call(handler, ev)[0] == (200 if ok else 422)


def test_batch_scores_in_order_and_logs_each_application(handler, event, prediction_log):
    status, body, _ = call(handler, event("predict-batch-valid.json"))
    assert status == 200 and body["total_processed"] == 3 == len(body["predictions"])
    rows = logged(prediction_log)
    assert sorted(r["kind"] for r in rows) == ["application"] * 3 + ["request"]
    apps = sorted((r for r in rows if r["kind"] == "application"), key=lambda r: r["batch_index"])
    assert [a["prediction_id"] for a in apps] == [p["prediction_id"] for p in body["predictions"]]
    request = next(r for r in rows if r["kind"] == "request")
    sent = json.loads(event("predict-batch-valid.json")["body"])["applications"]
    for app, answer in zip(apps, body["predictions"], strict=True):
        # Every application record is complete on its own: shared fields, inputs and outputs.
        assert {k: app[k] for k in ("request_id", "route", "status", "model_version", "batch_size")} == {
            "request_id": request["request_id"],
            "route": "/predict-batch",
            "status": 200,
            "model_version": answer["model_version"],
            "batch_size": 3,
        }
        assert app["probability_good_credit"] == answer["probability_good_credit"]
        # The log keeps the model's decision; a referred answer says refer and carries it as model_decision.
        model_decision = answer.get("model_decision", answer["decision"])
        assert (app["decision"], app["risk_level"]) == (model_decision, answer["risk_level"])
        assert app.get("case_id") == answer.get("case_id")
        assert set(app["features"]) == set(handler.model.schema.names)
    assert apps[0]["features"]["credit_amount"] == sent[0].get("credit_amount", sent[0].get("Credit amount"))


def test_batch_of_1000_is_accepted_and_1001_is_413(handler, event, prediction_log):
    ev = event("predict-batch-valid.json")
    ev["body"] = json.dumps({"applications": [SEED_EXAMPLE] * 1000})
    status, body, _ = call(handler, ev)
    assert status == 200 and body["total_processed"] == 1000
    ev["body"] = json.dumps({"applications": [SEED_EXAMPLE] * 1001})
    status, body, _ = call(handler, ev)
    assert status == 413 and body["error"]["code"] == "batch_too_large"
    assert len([r for r in logged(prediction_log) if r["kind"] == "application"]) == 1000


@pytest.mark.parametrize(("body", "position"), [('{"Duration in month": 12,', 25), ('{"a": 1}}', 8), ("{'a': 1}", 1)])
def test_malformed_json_says_where(handler, event, body, position):
    ev = event("predict-malformed-json.json")
    ev["body"] = body
    status, answer, _ = call(handler, ev)
    assert status == 400 and answer["error"]["code"] == "invalid_json"
    assert answer["error"]["message"].startswith(f"Malformed JSON at character {position}: ")


def test_non_json_content_type_is_415(handler, event):
    ev = event("predict-valid.json")
    ev["headers"]["content-type"] = "application/x-www-form-urlencoded"
    ev["body"] = "a=1"
    status, body, _ = call(handler, ev)
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"


def test_body_that_is_json_but_not_an_object_is_400(handler, event):
    ev = event("predict-valid.json")
    for raw in ("[]", "42", '"text"', "null"):
        ev["body"] = raw
        status, body, _ = call(handler, ev)
        assert status in (400, 422), raw
        assert body["error"]["code"] in ("invalid_body", "empty_body", "validation_error")


def test_no_client_input_ever_yields_a_500(handler, event):
    """Mutate every field with hostile values: the answer is always a 2xx or 4xx."""
    base = event("predict-valid.json")
    hostile = [None, "", " ", "A12" * 1000, -1, 1e308, float("nan"), [], {}, True, "\u0000", "💥", 10**30]
    for field in SEED_EXAMPLE:
        for value in hostile:
            ev = copy.deepcopy(base)
            try:
                ev["body"] = json.dumps({**SEED_EXAMPLE, field: value})
            except ValueError:
                continue
            status = call(handler, ev)[0]
            assert 200 <= status < 500, (field, value, status)


def test_unexpected_errors_are_500_without_internals_and_still_logged(handler, event, prediction_log, monkeypatch):
    def boom(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("creditwatch_predict.routes.score_applications", boom)
    status, body, _ = call(handler, event("predict-valid.json"))
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert "secret internals" not in json.dumps(body)
    (record,) = logged(prediction_log)
    assert record["status"] == 500 and record["error_class"] == "internal_error"


@pytest.mark.parametrize("name", ["health.json", "model-info.json", "docs.json", "openapi.json"])
def test_operational_routes(handler, event, name, model):
    status, _, resp = call(handler, event(name)) if name != "docs.json" else (None, None, None)
    if name == "docs.json":
        resp = handler.handler(event(name), Ctx())
        assert resp["statusCode"] == 200 and "swagger-ui" in resp["body"] and "/openapi.json" in resp["body"]
        return
    body = json.loads(resp["body"])
    assert status == 200
    if name == "health.json":
        assert body["model_loaded"] is True and body["model_version"] == model.version
    if name == "model-info.json":
        assert body["metrics"]["holdout"]["roc_auc"] >= 0.75
    if name == "openapi.json":
        assert {"/predict", "/predict-batch", "/health", "/model-info"} <= set(body["paths"])


def test_metrics_are_emitted_in_embedded_metric_format(handler, event, capsys):
    call(handler, event("predict-valid.json"))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]
    names = {m["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {
        "Requests",
        "ClientErrors",
        "ServerErrors",
        "Latency",
        "Predictions",
        "Approved",
        "Refused",
        "ProbabilityGood",
    } <= names
    namespaces = {d["Namespace"] for line in lines for d in line["_aws"]["CloudWatchMetrics"]}
    assert namespaces == {"CreditWatch"}


def test_log_write_failure_spills_and_never_fails_the_request(handler, event, prediction_log, sqs, capsys):
    handler.writer.table = "missing-table"
    status, body, _ = call(handler, event("predict-valid.json"))
    assert status == 200
    out = capsys.readouterr().out
    assert "LogRecordsSpilled" in out
    assert prediction_log.replay_spilled() == {"replayed": 1, "failed": 0}
    assert prediction_log.get(body["prediction_id"]).status == 200


def test_predict_explains_every_decision_with_up_to_four_readable_reasons(handler, event, model):
    _, body, _ = call(handler, event("predict-valid.json"))
    explanation = body["explanation"]
    assert list(explanation["contributions"]) == model.schema.names
    total = explanation["base_value"] + sum(explanation["contributions"].values())
    assert total == pytest.approx(body["probability_good_credit"], abs=1e-9)
    reasons = body["reasons"]
    assert 1 <= len(reasons) <= 4
    assert [r["contribution"] for r in reasons] == sorted(r["contribution"] for r in reasons)
    assert all(r["contribution"] < 0 for r in reasons)
    labels = {f.name: f for f in model.schema.features}
    for r in reasons:
        f = labels[r["feature"]]
        assert r["label"] == f.alias
        assert r["contribution"] == pytest.approx(explanation["contributions"][r["feature"]], abs=1e-6)
        assert r["meaning"] == (f.codes[r["value"]] if f.is_categorical else None)
    # The seed's example is refused mainly for its checking account (0-200 DM).
    assert reasons[0]["feature"] == "status_of_existing_checking_account"
    assert reasons[0]["meaning"] == "0 <= ... < 200 DM"


def test_the_logged_record_alone_rebuilds_the_reasons_given(handler, event, prediction_log, model):
    from creditwatch_model.explain import reasons_from_record

    _, body, _ = call(handler, event("predict-valid.json"))
    record = prediction_log.get(body["prediction_id"]).model_dump(mode="json", exclude_none=True)
    assert len(record["contributions"]) == len(model.schema.names)
    assert all(round(c, 6) == c for c in record["contributions"])
    assert reasons_from_record(model.schema, record) == body["reasons"]
    # The raw item too: contributions stored as one compact JSON string, like the features.
    item = prediction_log.dynamodb.get_item(
        TableName=prediction_log.table, Key={"pk": {"S": record["pk"]}, "sk": {"S": record["sk"]}}
    )["Item"]
    assert item["contributions"]["S"].startswith("[") and " " not in item["contributions"]["S"]


def test_batches_explain_only_when_asked_and_log_the_contributions(handler, event, prediction_log, model):
    from creditwatch_model.explain import reasons_from_record

    status, plain, _ = call(handler, event("predict-batch-valid.json"))
    assert status == 200 and all("explanation" not in p and "reasons" not in p for p in plain["predictions"])
    assert all(r.get("contributions") is None for r in logged(prediction_log))
    status, body, _ = call(handler, event("predict-batch-explain.json"))
    assert status == 200
    by_id = {r["prediction_id"]: r for r in logged(prediction_log)}
    for answer in body["predictions"]:
        total = answer["explanation"]["base_value"] + sum(answer["explanation"]["contributions"].values())
        assert total == pytest.approx(answer["probability_good_credit"], abs=1e-9)
        assert reasons_from_record(model.schema, by_id[answer["prediction_id"]]) == answer["reasons"]


def test_counterfactual_flips_a_refusal_when_rescored_and_spares_protected_attributes(handler, event, model):
    from creditwatch_model.counterfactual import PROTECTED

    ev = event("predict-valid-counterfactual.json")
    assert ev["rawQueryString"] == "counterfactual=true"
    _, body, _ = call(handler, ev)
    assert body["decision"] == "refuse"
    cf = body["counterfactual"]
    assert cf["status"] == "found" and cf["changes"] and cf["probability_good_credit"] >= model.threshold
    assert not {c["feature"] for c in cf["changes"]} & PROTECTED
    aliases = {f.name: f.alias for f in model.schema.features}
    sent = json.loads(ev["body"])
    for change in cf["changes"]:
        assert sent[aliases[change["feature"]]] == change["from"]
        sent[aliases[change["feature"]]] = change["to"]
    again = event("predict-valid.json")
    again["body"] = json.dumps(sent)
    _, rescored, _ = call(handler, again)
    # Just over the threshold: the model approves, and the review band may refer it to a person.
    assert rescored.get("model_decision", rescored["decision"]) == "approve"
    assert rescored["probability_good_credit"] == pytest.approx(cf["probability_good_credit"], abs=1e-12)
    # Without the flag there is no search, and an approval has nothing to change.
    assert "counterfactual" not in call(handler, event("predict-valid.json"))[1]
    approved = event("predict-valid-counterfactual.json")
    approved["body"] = json.dumps(sent)
    assert call(handler, approved)[1]["counterfactual"]["status"] == "already_approved"


@pytest.mark.parametrize(("value", "status"), [(4.0, 200), (4.5, 422), ("4", 422), (True, 422)])
def test_integer_fields_take_a_whole_number_written_as_4_0_as_json_schema_says(handler, event, value, status):
    ev = event("predict-valid.json")
    ev["body"] = json.dumps({**SEED_EXAMPLE, "Installment rate in percentage of disposable income": value})
    assert call(handler, ev)[0] == status


def test_a_wrong_method_is_a_405_that_says_which_methods_are_allowed(handler, event):
    ev = event("predict-valid.json")
    ev["requestContext"]["http"]["method"] = "GET"
    status, body, resp = call(handler, ev)
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    assert resp["headers"]["allow"] == "POST"


def test_records_written_with_a_raw_body_by_earlier_versions_still_read_back(prediction_log):
    from creditwatch_common.ids import uuid7
    from creditwatch_common.log.items import to_item

    record_id = uuid7()
    item = to_item(
        {"prediction_id": record_id, "request_id": "old", "route": "/predict", "status": 422, "latency_ms": 1.0},
        prediction_log.shards,
        90,
    )
    item.update({"model_version": {"S": "old"}, "raw_body": {"S": '{"Age in years": 7}'}})
    prediction_log.dynamodb.put_item(TableName=prediction_log.table, Item=item)
    old = prediction_log.get(record_id)
    assert old is not None and old.raw_body == '{"Age in years": 7}' and old.rejected_fields is None
