"""Applicants' data: what a rejected request leaves behind (table, spill queue, logs, traces), and bounded answers."""

import contextlib
import json
import sys
from collections.abc import Generator
from typing import Any

import pytest
from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment
from lambda_context import LambdaContext as Ctx

from creditwatch_predict.schemas import SEED_EXAMPLE

SSN = "078-05-1120"
EMAIL = "jane@example.com"
# Out of range (18 to 100) and distinctive enough not to turn up by chance in ids, times or floats.
AGE = 987654321
SECRETS = (SSN, EMAIL, str(AGE))
MB = 1024 * 1024


class RecordingSegment(BaseSegment):
    """A trace segment that keeps everything the tracer puts on it."""

    def __init__(self, sink: list[Any]) -> None:
        self.sink = sink

    def close(self, end_time: int | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to add."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to remove."""

    def put_annotation(self, key: str, value: Any) -> None:
        self.sink.append(("annotation", key, value))

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.sink.append(("metadata", key, value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.sink.append(("exception", repr(exception), stack))


class RecordingProvider(BaseProvider):
    """A tracing provider (X-Ray's stand-in) that records what would be sent."""

    def __init__(self) -> None:
        self.sink: list[Any] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        self.sink.append(("subsegment", name, None))
        yield RecordingSegment(self.sink)

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> Any:
        yield RecordingSegment(self.sink)

    def put_annotation(self, key: str, value: Any) -> None:
        self.sink.append(("annotation", key, value))

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.sink.append(("metadata", key, value))

    def patch(self, modules: Any) -> None:
        """Nothing to patch."""

    def patch_all(self) -> None:
        """Nothing to patch."""


@pytest.fixture
def provider(monkeypatch) -> RecordingProvider:
    """Tracing on, with the recording provider in place of X-Ray (Powertools' config restored after)."""
    recording = RecordingProvider()
    # Powertools keeps the tracer's config on the class: a copy, so the next tests get theirs back.
    monkeypatch.setattr(Tracer, "_config", dict(Tracer._default_config))
    tracer = Tracer(service="creditwatch-predict", disabled=False, auto_patch=False, provider=recording)
    monkeypatch.setattr("creditwatch_common.observability.make_tracer", lambda service, enabled: tracer)
    return recording


def build_service(prediction_log, **settings: Any) -> Any:
    """The predict function on moto, with these settings changed."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    update = {"spill_queue_url": prediction_log.spill_queue_url, **settings}
    return build(PredictSettings().model_copy(update=update), AwsClients())


@pytest.fixture
def service(aws, prediction_log, provider) -> Any:
    """The predict function, traced by the recording provider."""
    return build_service(prediction_log)


def call(service: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    resp = service.handler(event, Ctx())
    return resp["statusCode"], json.loads(resp["body"]), resp


def posted(event: Any, body: str, name: str = "predict-valid.json") -> dict[str, Any]:
    ev = event(name)
    ev["body"] = body
    return ev


def hostile_body() -> str:
    return json.dumps({**SEED_EXAMPLE, "Age in years": AGE, "ssn": SSN, "email": EMAIL, "name": "Jane Roe"})


def assert_absent(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} found in {where}"


def test_a_rejected_body_leaves_no_value_in_the_table_spill_queue_logs_or_traces(
    service, event, prediction_log, ddb, sqs, provider, capsys, caplog
):
    # Powertools keeps one handler per service name, on the stdout of the first build: point it at this
    # test's (not setStream, which would flush an earlier test's capture, closed by now).
    service.obs.logger.registered_handler.stream = sys.stdout
    status, body, _ = call(service, posted(event, hostile_body()))
    assert status == 422
    # The client is told which fields were wrong, where and why; only the unknown names are echoed.
    assert {d["field"] for d in body["error"]["details"]} == {"age_in_years", "ssn", "email", "name"}
    assert_absent("the answer", json.dumps(body))

    items = ddb.scan(TableName=prediction_log.table)["Items"]
    assert len(items) == 1
    assert_absent("the table", json.dumps(items))
    (record,) = [r.model_dump() for r in prediction_log.query_window(*_window(), _full_row())]
    assert record["raw_body"] is None and record["features"] is None
    assert record["rejected_count"] == 4 and record["body_bytes"] == len(hostile_body())
    # Known fields keep their names; the client's own key names are not kept (a key can be an e-mail).
    assert sorted((r["field"], r["type"]) for r in record["rejected_fields"]) == [
        ("<redacted>", "extra_forbidden"),
        ("<redacted>", "extra_forbidden"),
        ("<redacted>", "extra_forbidden"),
        ("age_in_years", "less_than_equal"),
    ]
    assert "ssn" not in json.dumps(items) and "email" not in json.dumps(items)

    # A spill: the table is missing, the record goes to the queue.
    service.writer.table = "missing-table"
    status, _, resp = call(service, posted(event, hostile_body()))
    assert status == 422 and resp["headers"]["x-prediction-log"] == "spilled"
    messages = sqs.receive_message(QueueUrl=prediction_log.spill_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    assert_absent("the spill queue", json.dumps(messages))

    # The last resort: no queue either, the record goes to the function's log.
    service.writer.spill_queue_url = None
    status, _, resp = call(service, posted(event, hostile_body()))
    assert status == 422 and resp["headers"]["x-prediction-log"] == "logged-only"
    out = capsys.readouterr()
    assert "prediction log record kept in logs only" in out.out
    assert_absent("stdout", out.out)
    assert_absent("stderr", out.err)
    assert_absent("log records", "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records))

    # Traced: the handler's subsegment and its annotations, never the answer or the event.
    assert ("subsegment", "## handle", None) in provider.sink
    assert not [s for s in provider.sink if s[0] == "metadata"]
    assert_absent("the trace", repr(provider.sink))


def test_a_path_the_app_does_not_serve_is_not_kept_in_the_log(aws, prediction_log, event):
    service = build_service(prediction_log)
    ev = event("not-found.json")
    ev["rawPath"] = ev["requestContext"]["http"]["path"] = f"/applicants/{EMAIL}"
    status, _, _ = call(service, ev)
    assert status == 404
    (record,) = _records(prediction_log)
    assert record["route"] == "<unknown>" and EMAIL not in json.dumps(record)


def test_the_tracer_never_records_an_error_raised_by_the_handler(service, provider):
    # An event Mangum cannot read: the handler itself raises, with the event in hand.
    with pytest.raises(RuntimeError):
        service.handler({"body": hostile_body(), "ssn": SSN}, Ctx())
    assert ("subsegment", "## handle", None) in provider.sink
    assert not [s for s in provider.sink if s[0] == "metadata"]
    assert_absent("the trace", repr(provider.sink))


def _window() -> tuple[Any, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(minutes=2), now + timedelta(minutes=2)


def _full_row() -> Any:
    from creditwatch_common.records import FullRow

    return FullRow


def _records(prediction_log) -> list[dict[str, Any]]:
    return [r.model_dump() for r in prediction_log.query_window(*_window(), _full_row())]


def _unknown_keys(size: int) -> str:
    keys = {f"unknown_field_{i:06d}": 1 for i in range(size // 26)}
    return json.dumps({**SEED_EXAMPLE, **keys})


PATHOLOGICAL = {
    # 0.89 MB of unknown keys: a 9.7 MB answer before the cap (Lambda's limit is 6 MB).
    "unknown keys": ("predict-valid.json", lambda: _unknown_keys(890_000), 422, "validation_error"),
    "deeply nested JSON": ("predict-valid.json", lambda: '{"a":' * 100_000 + "1" + "}" * 100_000, 400, "invalid_json"),
    "deeply nested value": (
        "predict-valid.json",
        lambda: json.dumps({**SEED_EXAMPLE, "Age in years": json.loads("[" * 500 + "]" * 500)}),
        422,
        "validation_error",
    ),
    "huge string value": (
        "predict-valid.json",
        lambda: json.dumps({**SEED_EXAMPLE, "Purpose": "A" * 900_000, "x" * 100_000: 1}),
        422,
        "validation_error",
    ),
    "1,001 applications": (
        "predict-batch-valid.json",
        lambda: json.dumps({"applications": [SEED_EXAMPLE] * 1001}),
        413,
        "batch_too_large",
    ),
    "1,000 applications all wrong": (
        "predict-batch-valid.json",
        lambda: json.dumps({"applications": [{k: "?" for k in SEED_EXAMPLE}] * 1000}),
        422,
        "validation_error",
    ),
    "a body over the size limit": ("predict-valid.json", lambda: " " * (MB + 1), 413, "body_too_large"),
}


@pytest.mark.parametrize("case", list(PATHOLOGICAL))
def test_pathological_inputs_get_a_precise_small_4xx_that_is_logged_redacted(aws, prediction_log, event, case):
    service = build_service(prediction_log)
    name, make, status, code = PATHOLOGICAL[case]
    sent = make()
    got, body, resp = call(service, posted(event, sent, name))
    assert (got, body["error"]["code"]) == (status, code)
    # Small whatever was sent: at most 20 details, each name clipped.
    assert len(resp["body"]) < 16_384
    details = body["error"]["details"]
    assert len(details) <= 20
    if body["error"].get("details_truncated"):
        assert body["error"]["details_count"] > len(details)
    (record,) = _records(prediction_log)
    assert (record["status"], record["error_class"]) == (status, code)
    assert record["body_bytes"] == len(sent.encode())
    assert len(json.dumps(record)) < 8192
    assert "unknown_field_" not in json.dumps(record) and "AAAA" not in json.dumps(record)


def test_a_streamed_body_over_the_limit_is_refused_before_it_is_all_read(aws, prediction_log):
    import asyncio

    service = build_service(prediction_log, max_body_bytes=4096)
    chunks = [b"{" + b" " * 1023] * 100
    read: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        read.append(1)
        return {"type": "http.request", "body": chunks[len(read) - 1], "more_body": len(read) < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    asyncio.run(service.app(scope, receive, send))
    assert sent[0]["status"] == 413 and len(read) == 5
    assert json.loads(sent[1]["body"])["error"]["code"] == "body_too_large"


def test_a_declared_content_length_over_the_limit_is_refused_without_reading(aws, prediction_log, event):
    service = build_service(prediction_log)
    ev = posted(event, json.dumps(SEED_EXAMPLE))
    ev["headers"]["content-length"] = str(MB + 1)
    status, body, _ = call(service, ev)
    assert status == 413 and body["error"]["message"].startswith(f"The body is larger than {MB} bytes")


def test_the_largest_answer_stays_under_the_bound_and_larger_ones_are_refused(aws, prediction_log, event):
    service = build_service(prediction_log, max_batch_size=2000)
    bound = service.settings.max_answer_bytes
    sent = json.dumps({"applications": [SEED_EXAMPLE] * 1000, "explain": True})
    batch = posted(event, sent, "predict-batch-valid.json")
    status, _, resp = call(service, batch)
    # What Lambda counts: the handler's whole JSON result, the body escaped inside it.
    payload = len(json.dumps(resp))
    print(f"1,000 explained applications: answer {len(resp['body']):,} bytes, Lambda payload {payload:,}")
    assert status == 200 and payload < bound < 6_000_000
    batch["body"] = json.dumps({"applications": [SEED_EXAMPLE] * 1001, "explain": True})
    status, body, _ = call(service, batch)
    assert status == 413 and body["error"]["message"].startswith("At most 1000 applications per request with explain")


def test_an_answer_over_the_bound_becomes_a_logged_500_not_a_gateway_error(aws, prediction_log, event):
    service = build_service(prediction_log, max_answer_bytes=65_536)
    batch = posted(event, json.dumps({"applications": [SEED_EXAMPLE] * 1000}), "predict-batch-valid.json")
    status, body, _ = call(service, batch)
    assert status == 500 and body["error"]["code"] == "answer_too_large"
    (record,) = _records(prediction_log)
    assert (record["status"], record["error_class"]) == (500, "answer_too_large")


def test_log_erase_deletes_one_applicants_record_and_says_where_copies_may_remain(aws, prediction_log, event, capsys):
    from typer.testing import CliRunner

    from creditwatch.cli import app

    service = build_service(prediction_log)
    _, first, _ = call(service, event("predict-valid.json"))
    _, second, _ = call(service, event("predict-valid.json"))
    args = [
        "log",
        "erase",
        first["prediction_id"],
        "--table",
        prediction_log.table,
        "--shards",
        str(prediction_log.shards),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    erased = json.loads(result.output)
    assert erased["erased"] is True and erased["kind"] == "request"
    places = " ".join(erased["may_also_be_held_in"])
    assert "SpillQueue" in places and "CloudWatch Logs" in places and "replay-spill" in places
    assert prediction_log.get(first["prediction_id"]) is None
    # Only that applicant's: the other record stays.
    assert prediction_log.get(second["prediction_id"]) is not None
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and '"erased": false' in again.stdout
    # Without --lake-bucket a deployed stack's lake is not touched, and the answer says so.
    assert erased["lake"]["rewritten"] is False and "--lake-bucket" in erased["lake"]["why"]


def test_log_erase_with_the_lake_bucket_rewrites_the_records_hour_in_the_lake(aws, prediction_log, event, s3, model):
    import io

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from creditwatch.cli import app
    from creditwatch_analytics.lake.erase import prediction_hour_key
    from creditwatch_analytics.lake.export import LakeExporter
    from creditwatch_analytics.lake.schema import LakeSchema

    service = build_service(prediction_log)
    _, first, _ = call(service, event("predict-valid.json"))
    _, second, _ = call(service, event("predict-valid.json"))
    bucket = aws.ref("LakeBucket")
    LakeExporter(reader=prediction_log, s3=s3, bucket=bucket, schema=LakeSchema.of(model.schema.features)).export(2)
    key = prediction_hour_key(first["prediction_id"])
    args = ["log", "erase", first["prediction_id"], "--table", prediction_log.table, "--lake-bucket", bucket]
    args += ["--shards", str(prediction_log.shards)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    erased = json.loads(result.stdout)
    assert erased["erased"] is True and erased["lake"]["rows_removed"] == 1
    assert [o["key"] for o in erased["lake"]["objects"]] == [key]
    ids = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).column("prediction_id")
    assert ids.to_pylist() == [second["prediction_id"]]
