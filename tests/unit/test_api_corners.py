"""Corners of the predict API: repeated keys, a field by both names, a trailing slash, one application as a batch."""

import json
import re
from pathlib import Path
from typing import get_args

import pytest
from predict_calls import call, logged

from creditwatch_predict.errors import ErrorCode
from creditwatch_predict.fastjson import DuplicateKey, loads
from creditwatch_predict.middleware import ANSWER_TOO_LARGE
from creditwatch_predict.schemas import SEED_EXAMPLE

ROOT = Path(__file__).resolve().parents[2]


def seed_body_with(extra: str) -> str:
    """The seed's example as text with `extra` (raw JSON members) appended: json.dumps cannot repeat a key."""
    return json.dumps(SEED_EXAMPLE)[:-1] + ", " + extra + "}"


def test_a_repeated_key_is_a_400_duplicate_key_naming_it(handler, event, prediction_log):
    ev = event("predict-valid.json")
    ev["body"] = seed_body_with('"Age in years": 12')
    status, body, _ = call(handler, ev)
    assert status == 400 and body["error"]["code"] == "duplicate_key"
    (detail,) = body["error"]["details"]
    assert detail["field"] == "Age in years" and detail["type"] == "duplicate_key"
    assert "'Age in years'" in detail["message"]
    (record,) = logged(prediction_log)
    assert record["status"] == 400 and record["error_class"] == "duplicate_key"


def test_a_repeated_unknown_key_is_answered_but_not_logged_by_name(handler, event, prediction_log):
    ev = event("predict-batch-valid.json")
    ev["body"] = '{"applications": [{"jane@example.com": 1, "jane@example.com": 2}]}'
    status, body, _ = call(handler, ev)
    assert status == 400 and body["error"]["details"][0]["field"] == "jane@example.com"
    (record,) = logged(prediction_log)
    assert "jane@example.com" not in json.dumps(record, default=str)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": {"c": 2, "c": 3}}',
        '{"a": "x:y", "a": 1}',
        '{"a": [{"k": 1}, {"k": 1, "k": 1}]}',
        '{"t\\u003a": 1, "t\\u003a": 2}',
        '{"a\\u003a": 1, "a": 1, "a": 2}',
    ],
)
def test_loads_finds_a_repeated_key_at_any_depth_and_spelling(text):
    with pytest.raises(DuplicateKey):
        loads(text.encode())


@pytest.mark.parametrize(
    "text",
    ['{"a": "x:y", "b": {"c": "12:00"}}', '{"a\\u003a": 1, "a": 2}', '{"applications": [{"k": 1}, {"k": 1}]}', "[]"],
)
def test_loads_accepts_colons_in_strings_escapes_and_the_same_key_in_sibling_objects(text):
    assert loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("depth", [300, 1000])
def test_loads_parses_a_value_nested_deeper_than_orjson_writes(depth):
    text = '{"a": ' + "[" * depth + "]" * depth + "}"
    # Not compared value for value: at ~1,000 levels even == runs out of stack (as stdlib's parser does).
    value = loads(text.encode())
    assert list(value) == ["a"] and isinstance(value["a"], list)


def test_loads_finds_a_repeated_key_beside_a_value_nested_deeper_than_orjson_writes():
    with pytest.raises(DuplicateKey):
        loads(('{"a": 1, "b": ' + "[" * 300 + "]" * 300 + ', "a": 2}').encode())


def test_a_field_by_both_its_names_is_a_422_naming_the_two(handler, event):
    ev = event("predict-valid.json")
    ev["body"] = json.dumps({**SEED_EXAMPLE, "age_in_years": 35})
    status, body, _ = call(handler, ev)
    assert status == 422 and body["error"]["code"] == "validation_error"
    (detail,) = body["error"]["details"]
    assert detail["type"] == "duplicate_field" and detail["field"] == "age_in_years"
    assert "'Age in years'" in detail["message"] and "'age_in_years'" in detail["message"]
    assert "Unknown field" not in detail["message"]


@pytest.mark.parametrize("path", ["/predict/", "/predict//"])
def test_predict_with_a_trailing_slash_is_predict_answered_and_logged_as_it(handler, event, prediction_log, path):
    ev = event("predict-valid.json")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
    status, body, _ = call(handler, ev)
    assert status == 200 and "prediction_id" in body
    record = prediction_log.get(body["prediction_id"]).model_dump()
    assert record["route"] == "/predict"


def test_an_unknown_path_with_a_trailing_slash_is_a_json_404_not_a_redirect(handler, event, prediction_log):
    ev = event("not-found.json")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = "/nope/"
    status, body, resp = call(handler, ev)
    assert status == 404 and body["error"]["code"] == "not_found"
    assert "location" not in {k.lower() for k in resp.get("headers", {})}


def test_one_application_posted_to_the_batch_route_gets_one_error_pointing_to_predict(handler, event, prediction_log):
    ev = event("predict-batch-valid.json")
    ev["body"] = json.dumps(SEED_EXAMPLE)
    status, body, _ = call(handler, ev)
    assert status == 422 and body["error"]["code"] == "validation_error"
    (detail,) = body["error"]["details"]
    assert detail["type"] == "not_a_batch" and "/predict" in detail["message"]
    (record,) = logged(prediction_log)
    assert record["rejected_count"] == 1 and record["rejected_fields"][0]["type"] == "not_a_batch"


def test_every_error_code_the_api_can_answer_is_in_the_docs_table_and_no_other():
    text = (ROOT / "docs/api.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\|\s*\d{3}", line)]
    documented = {code for row in rows for code in re.findall(r"`([a-z_]+)`", row.split("|")[2])}
    codes = set(get_args(ErrorCode))
    assert ANSWER_TOO_LARGE in codes
    assert documented == codes


def test_no_code_answers_an_error_outside_the_declared_codes():
    # error_response takes an ErrorCode (mypy checks each call); this finds any error body built by hand.
    package = ROOT / "functions/predict/creditwatch_predict"
    literal = re.compile(r'"code":\s*"([a-z_]+)"')
    by_hand = {code for path in package.glob("*.py") for code in literal.findall(path.read_text())}
    assert by_hand <= set(get_args(ErrorCode))
