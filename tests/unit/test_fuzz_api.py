"""schemathesis in-process against the predict app, moto behind it: no 5xx, every answer as the document says."""

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from moto import mock_aws

# Cases sent, per operation; the last test checks and prints the total.
CASES: dict[str, int] = {}
MIN_CASES = 1000


def _config() -> Any:
    """schemathesis' defaults, and 413 as a rejection: too many applications is `413 batch_too_large` (docs/api.md)."""
    from schemathesis.config import SchemathesisConfig

    rejected = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
    # A schema-valid outcome can still be a 422: observed_at in the future or before its prediction, an
    # id sent twice (what JSON Schema cannot say; the document's 422 lists them). Nothing else may be.
    accepted = ["200", "422"]
    return SchemathesisConfig.from_dict(
        {
            "checks": {"negative_data_rejection": {"expected-statuses": rejected}},
            "operations": [
                {"include-path": "/outcomes", "checks": {"positive_data_acceptance": {"expected-statuses": accepted}}}
            ],
        }
    )


def _app() -> Any:
    """The app the Lambda handler serves; its AWS clients are built at its first request."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    return build(PredictSettings(), AwsClients()).app


# The document, fetched from the app itself at collection (schemathesis' lazy fixture loader does not
# run under pytest 9); inside moto, where that request's log record goes.
with mock_aws():
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app(), config=_config())


@pytest.fixture
def app(aws: Any) -> Any:
    """A fresh app whose log writes go to moto with the template's resources."""
    return _app()


# One pytest item per operation, named by it: schemathesis' own parametrize gives its items one node id
# under pytest 9, which pytest-xdist cannot tell apart (only the first would run).
OPERATIONS = sorted((op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations()))


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_never_get_a_5xx_and_every_answer_matches_the_schema(
    app: Any, method: str, path: str
) -> None:
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case: Any) -> None:
        key = f"{case.method} {case.path}"
        CASES[key] = CASES.get(key, 0) + 1
        sent = (case.headers or {}).get("Idempotency-Key")
        if isinstance(sent, str) and 0 < len(sent) <= 255 and sent.isascii() and sent.isprintable():
            # A valid key, made unique: generated cases reuse short keys with other bodies, which is a
            # correct 422 the schema-valid check would count as a failure (tests/unit/test_idempotency.py).
            case.headers["Idempotency-Key"] = f"{uuid.uuid4()}"
        case.call_and_validate(app=app)

    run()


@pytest.mark.server  # counts what the moto-backed cases above sent
def test_the_fuzzer_sent_at_least_a_thousand_cases_over_every_route(capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nschemathesis: {sum(CASES.values())} cases: {CASES}")
    assert sum(CASES.values()) >= MIN_CASES
    assert {"POST /predict", "POST /predict-batch", "POST /outcomes", "GET /health", "GET /model-info"} <= set(CASES)
