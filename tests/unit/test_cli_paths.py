"""The CLI's plain functions: error mapping, durations, simulation counts, events and the local Lambda clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from creditwatch import errors

SRC = Path(__file__).resolve().parents[2] / "src"


def test_known_failures_map_to_their_documented_codes() -> None:
    import httpx
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, SSOTokenLoadError

    assert errors.explain(NoCredentialsError()).code == errors.CREDENTIALS
    assert "aws sso login" in errors.explain(SSOTokenLoadError(error_msg="expired")).message
    assert errors.explain(EndpointConnectionError(endpoint_url="http://x")).code == errors.UNREACHABLE
    request = httpx.Request("POST", "http://127.0.0.1:9/predict")
    assert errors.explain(httpx.ConnectError("refused", request=request)).code == errors.UNREACHABLE
    assert errors.explain(FileNotFoundError(2, "No such file", "x.json")).code == errors.USAGE
    unexpected = errors.explain(RuntimeError("boom"))
    assert unexpected.code == errors.UNEXPECTED and "--debug" in unexpected.message


def test_every_exit_code_is_documented_in_develop_md() -> None:
    text = (SRC.parent / "docs" / "develop.md").read_text()
    for code, meaning in errors.EXIT_CODES.items():
        assert f"| {code} | {meaning} |" in text


def test_durations_read_as_people_write_them() -> None:
    from creditwatch.lookups import LookupProblem, parse_duration

    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(LookupProblem, match="30m"):
        parse_duration("an hour")


def test_simulation_sends_the_scenario_or_the_counts_and_nothing_hidden() -> None:
    from creditwatch.simulate import plan_counts

    none = {"stable": None, "drift": None, "invalid": None, "errors": None, "slow": None}
    assert plan_counts(None, {**none, "drift": 400}) == {"drift": 400}
    assert plan_counts("drift", none) == {"drift": 200}
    assert plan_counts("day", {**none, "stable": 0})["drift"] == 300
    assert "stable" not in plan_counts("day", {**none, "stable": 0})
    with pytest.raises(ValueError, match="nothing to send"):
        plan_counts(None, none)


def test_a_bare_body_is_told_apart_from_an_api_gateway_event() -> None:
    from creditwatch.events import bare_body_kind, shape_problem, wrap_body
    from creditwatch.paths import EVENTS

    event = json.loads((EVENTS / "predict-valid.json").read_text())
    body = json.loads(event["body"])
    assert bare_body_kind(event) is None and shape_problem("PredictFunction", event) is None
    assert bare_body_kind(body) == "application" and bare_body_kind([body]) == "batch"
    assert "--body" in (shape_problem("PredictFunction", body) or "")
    assert shape_problem("DriftFunction", {"start": "x"}) is None
    wrapped = wrap_body({"applications": [body]})
    assert wrapped["rawPath"] == "/predict-batch" and json.loads(wrapped["body"]) == {"applications": [body]}


def _run_handler(tmp_path: Path, module: str, timeout: int) -> tuple[subprocess.CompletedProcess[str], float]:
    (tmp_path / "slow_fn.py").write_text(module)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)])}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "creditwatch.local.bootstrap", "slow_fn.handler", "Fn", "128", str(timeout)],
        input="{}",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return proc, time.monotonic() - started


def test_the_deadline_starts_when_the_handler_is_called_not_at_init(tmp_path: Path) -> None:
    module = (
        "import time\ntime.sleep(1.5)  # init\n"
        "def handler(event, context):\n    return context.get_remaining_time_in_millis()\n"
    )
    proc, _ = _run_handler(tmp_path, module, timeout=2)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip().splitlines()[-1]) > 1800


def test_a_handler_that_overruns_is_stopped_with_lambdas_timeout_error(tmp_path: Path) -> None:
    module = "import time\ndef handler(event, context):\n    time.sleep(30)\n    return 'late'\n"
    proc, took = _run_handler(tmp_path, module, timeout=1)
    assert took < 10 and proc.returncode != 0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errorMessage"] == "Task timed out after 1.00 seconds"


def test_links_are_never_wrapped_when_the_output_is_piped() -> None:
    import io

    from rich.console import Console

    from creditwatch.cli.render import render_demo
    from creditwatch.demo import DemoResult, DemoRun

    url = "http://127.0.0.1:4566/creditwatch-local-reports/drift/reports/x/report.html?X-Amz-Signature=" + "a" * 200
    result = DemoResult(drift={"report_url": url, "report_url_signed_by": "signer-user"})
    out = io.StringIO()
    render_demo(DemoRun(result, "http://127.0.0.1:4566", "stopped", Path("/tmp/x")), Console(file=out, width=80))
    assert url in out.getvalue().splitlines()
    assert "demo stack http://127.0.0.1:4566: stopped" in out.getvalue()


def test_lake_query_help_offers_in_athena_only_the_tables_glue_defines() -> None:
    # Locally DuckDB has the views predictions, outcomes, outcome_events, reviews and review_events; a
    # deployed stack's Athena has only the Glue tables of template.yaml (no latest-per-prediction view):
    # the help must say which is which.
    import re
    from typing import get_type_hints

    from creditwatch.cli.lake import lake_query
    from creditwatch.local.template import Template

    glue = {
        res["Properties"]["TableInput"]["Name"]
        for res in Template().resources.values()
        if res["Type"] == "AWS::Glue::Table"
    }
    assert glue == {"predictions", "outcome_events", "review_events"}
    texts = [lake_query.__doc__ or ""]
    sql = get_type_hints(lake_query, include_extras=True)["sql"]
    texts += [str(m.help) for m in sql.__metadata__ if getattr(m, "help", None)]
    assert len(texts) == 2
    for text in texts:
        text = " ".join(text.split())
        local, athena = re.split(r"(?:With --workgroup \(Athena\)|In Athena)", text, maxsplit=1)
        views = {"predictions", "outcomes", "outcome_events", "reviews", "review_events"}
        assert views <= set(re.findall(r"`(\w+)`", local)), local
        offered = re.search(r"the Glue tables (.*?)(?:\(|$)", athena)
        assert offered is not None and set(re.findall(r"`(\w+)`", offered.group(1))) == glue, athena
