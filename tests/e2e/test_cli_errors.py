"""Every expected failure of the CLI is one `error:` line with the next step and a documented exit code."""

from __future__ import annotations

import copy
import json
import os
import pty
import subprocess
import time
from pathlib import Path
from typing import Any

from creditwatch import errors

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _one_error_line(proc: Any, code: int, *phrases: str) -> str:
    """The command failed with `code` and said so in one `error:` line containing the phrases."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return str(lines[0])


def _with_env(cli: Any, **env: str) -> Any:
    other = copy.copy(cli)
    other.env = {**cli.env, **env}
    return other


def test_a_missing_event_file_names_the_file_and_the_likely_one(local_stack: Any) -> None:
    proc = local_stack.cli("invoke", "PredictFunction", "-e", "events/predict.json", check=False)
    _one_error_line(proc, errors.USAGE, "no event file events/predict.json", "events/predict-valid.json")


def test_invoke_without_an_event_says_how_to_give_one_instead_of_waiting_on_the_terminal(local_stack: Any) -> None:
    controller, terminal = pty.openpty()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [local_stack.cli.exe, "invoke", "PredictFunction"],
            stdin=terminal,
            capture_output=True,
            text=True,
            env=local_stack.cli.env,
            timeout=30,
            check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert time.monotonic() - started < 30
    _one_error_line(proc, errors.USAGE, "-e -", "-e FILE")


def test_dash_e_dash_reads_the_event_from_stdin(local_stack: Any) -> None:
    out = local_stack.cli.json("invoke", "PredictFunction", "-e", "-", stdin=(EVENTS / "health.json").read_text())
    assert out["statusCode"] == 200


def test_an_event_that_is_not_json_is_one_line(local_stack: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = local_stack.cli("invoke", "PredictFunction", "-e", str(bad), check=False)
    _one_error_line(proc, errors.USAGE, "is not JSON")


def test_a_bare_application_is_recognised_and_the_way_to_wrap_it_is_given(local_stack: Any) -> None:
    body = json.loads(json.loads((EVENTS / "predict-valid.json").read_text())["body"])
    proc = local_stack.cli("invoke", "PredictFunction", "-e", "-", stdin=json.dumps(body), check=False)
    _one_error_line(proc, errors.USAGE, "bare application body", "--body")
    out = local_stack.cli.json("invoke", "PredictFunction", "--body", "-e", "-", stdin=json.dumps(body))
    assert out["statusCode"] == 200 and json.loads(out["body"])["decision"] in ("approve", "refuse")


def test_a_wrapped_batch_is_found_by_its_request_id_with_every_item(local_stack: Any) -> None:
    batch = json.loads(json.loads((EVENTS / "predict-batch-valid.json").read_text())["body"])
    proc = local_stack.cli("invoke", "PredictFunction", "-e", "-", stdin=json.dumps(batch), check=False)
    _one_error_line(proc, errors.USAGE, "bare batch body", "--body")
    out = local_stack.cli.json("invoke", "PredictFunction", "--body", "-e", "-", stdin=json.dumps(batch))
    answer = json.loads(out["body"])
    assert out["statusCode"] == 200 and answer["total_processed"] == len(batch["applications"])
    request_id = local_stack.cli.json("log", "get", answer["predictions"][0]["prediction_id"])["request_id"]
    records = local_stack.cli.json("log", "get", request_id)
    assert isinstance(records, list)
    items = [r for r in records if r["kind"] == "application"]
    assert [r["batch_index"] for r in items] == list(range(len(batch["applications"])))
    assert {r["prediction_id"] for r in items} == {p["prediction_id"] for p in answer["predictions"]}


def test_a_request_id_that_is_not_time_ordered_is_searched_over_the_last_day_and_says_so(local_stack: Any) -> None:
    out = local_stack.cli.json("invoke", "PredictFunction", "-e", str(EVENTS / "predict-valid.json"))
    request_id = json.loads((EVENTS / "predict-valid.json").read_text())["requestContext"]["requestId"]
    proc = local_stack.cli("log", "get", request_id)
    assert proc.stderr.strip() == "searched the last 24h; --last widens it"
    assert json.loads(out["body"])["prediction_id"] in {r["prediction_id"] for r in json.loads(proc.stdout)}
    records = local_stack.cli.json("log", "get", request_id, "--last", "10m")
    assert json.loads(out["body"])["prediction_id"] in {r["prediction_id"] for r in records}


def test_log_get_of_an_unknown_id_is_a_sentence_and_debug_shows_the_traceback(local_stack: Any) -> None:
    _one_error_line(local_stack.cli("log", "get", "not-an-id", check=False), errors.FAILED, "not-an-id", "--last")
    missing = local_stack.cli("log", "get", "01a2aaaa-0000-7000-8000-000000000000", check=False)
    _one_error_line(missing, errors.FAILED, "no record")
    debug = local_stack.cli("--debug", "log", "get", "not-an-id", check=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    env_debug = _with_env(local_stack.cli, CREDITWATCH_DEBUG="1")("log", "get", "not-an-id", check=False)
    assert "Traceback" in env_debug.stderr


def test_a_port_another_process_holds_is_refused_with_the_way_out(local_stack: Any, fresh_cli: Any) -> None:
    port = local_stack.endpoint.rsplit(":", 1)[1]
    proc = fresh_cli("local", "up", "--port", port, "--sink-port", "0", check=False)
    _one_error_line(proc, errors.UNREACHABLE, f"port {port}", "--port")


def test_local_up_on_another_port_says_a_stack_already_runs(local_stack: Any) -> None:
    from conftest import free_port

    proc = local_stack.cli("local", "up", "--port", str(free_port()), check=False)
    _one_error_line(proc, errors.USAGE, f"already runs on {local_stack.endpoint}", "local down")


def test_commands_that_need_the_stack_say_how_to_start_it(fresh_cli: Any) -> None:
    for args in (
        ("invoke", "PredictFunction", "-e", str(EVENTS / "health.json")),
        ("slack",),
        ("log", "tail"),
        ("drift", "--last", "1h"),
        ("alerts",),
        ("local", "status"),
    ):
        _one_error_line(fresh_cli(*args, check=False), errors.STACK_DOWN, "creditwatch local up")


def test_no_aws_credentials_is_one_line_with_the_way_to_get_them(fresh_cli: Any, tmp_path: Path) -> None:
    cli = _with_env(
        fresh_cli,
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    proc = cli("report", "show", "--bucket", "some-bucket", check=False)
    _one_error_line(proc, errors.CREDENTIALS, "no AWS credentials", "aws sso login")


def test_an_expired_sso_session_says_aws_sso_login(fresh_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Reader\n"
        "region = eu-west-1\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = eu-west-1\n"
    )
    cli = _with_env(
        fresh_cli,
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_PROFILE="sso",
        AWS_EC2_METADATA_DISABLED="true",
    )
    proc = cli("report", "show", "--bucket", "some-bucket", check=False)
    _one_error_line(proc, errors.CREDENTIALS, "aws sso login")


def test_simulate_against_a_serve_that_is_down_is_one_line(local_stack: Any) -> None:
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    proc = local_stack.cli("simulate", "traffic", "--target", "http", "--url", url, "--stable", "3", check=False)
    _one_error_line(proc, errors.UNREACHABLE, url, "creditwatch serve")


def test_flags_are_flags_and_a_value_after_one_is_a_usage_error(local_stack: Any) -> None:
    assert isinstance(local_stack.cli.json("slack", "--json"), list)
    proc = local_stack.cli("slack", "--json", "true", check=False)
    assert proc.returncode == errors.USAGE and "Traceback" not in proc.stderr
    assert "<bool>" not in local_stack.cli("slack", "--help").stdout


def test_help_lists_every_exit_code_and_version_names_the_model(fresh_cli: Any) -> None:
    from creditwatch_model import load_model

    text = fresh_cli("--help").stdout
    for code, meaning in errors.EXIT_CODES.items():
        assert f"{code:<3} {meaning}" in text
    assert load_model().version in fresh_cli("--version").stdout


def test_log_tail_prints_json_for_scripts(local_stack: Any) -> None:
    local_stack.cli.json("invoke", "PredictFunction", "-e", str(EVENTS / "predict-valid.json"))
    rows = local_stack.cli.json("log", "tail", "--json", "--minutes", "5", "--limit", "3")
    assert 1 <= len(rows) <= 3 and {"prediction_id", "request_id", "status", "route"} <= set(rows[-1])


def test_simulate_sends_only_the_counts_asked_for_and_reports_its_window(local_stack: Any) -> None:
    out = local_stack.cli.json("simulate", "traffic", "--drift", "5", "--json")
    assert out["by_scenario"] == {"drift": 5} and out["requests"] == 5
    assert out["window"]["start"] < out["window"]["end"]


def test_simulate_takes_a_named_scenario_and_prints_the_window_to_analyse(local_stack: Any) -> None:
    text = local_stack.cli("simulate", "traffic", "--scenario", "drift", "--drift", "4").stdout
    assert "window 20" in text and "creditwatch drift --start" in text
    proc = local_stack.cli("simulate", "traffic", check=False)
    _one_error_line(proc, errors.USAGE, "--scenario")


def test_an_old_spelling_still_works_for_one_release_and_says_the_new_one(local_stack: Any) -> None:
    proc = local_stack.cli("report", "--list", "--json")
    assert isinstance(json.loads(proc.stdout), list)
    assert proc.stderr.strip() == "deprecated: use `creditwatch report list`"


def test_a_hanging_dynamodb_endpoint_spills_within_the_timeout_and_replay_restores_it(
    local_stack: Any, stack_client: Any
) -> None:
    from faults import HangingServer

    from creditwatch.local.template import Template

    timeout = Template(endpoint=local_stack.endpoint).function("PredictFunction").timeout
    with HangingServer() as hanging:
        cli = _with_env(local_stack.cli, AWS_ENDPOINT_URL_DYNAMODB=hanging.url)
        started = time.monotonic()
        out = cli.json("invoke", "PredictFunction", "-e", str(EVENTS / "predict-valid.json"))
        took = time.monotonic() - started
        assert hanging.connections >= 1  # the function really went to the hanging endpoint
    assert took < timeout + 5, f"{took:.1f} s for a {timeout} s function"  # + the interpreter's start
    assert out["statusCode"] == 200 and out["headers"]["x-prediction-log"] == "spilled"
    prediction_id = json.loads(out["body"])["prediction_id"]
    assert local_stack.cli("log", "get", prediction_id, check=False).returncode == errors.FAILED
    assert "0 failed" in local_stack.cli("replay-spill").stdout
    assert local_stack.cli.json("log", "get", prediction_id)["prediction_id"] == prediction_id


def test_local_up_registers_the_layers_model_as_champion_and_model_errors_are_one_line(local_stack: Any) -> None:
    from creditwatch_model import load_model

    versions = local_stack.cli.json("model", "list", "--json")
    assert [(v["version"], v["aliases"]) for v in versions] == [(load_model().version, ["champion"])]
    _one_error_line(local_stack.cli("model", "show", "0123456789ab", check=False), errors.FAILED, "no model version")
    _one_error_line(
        local_stack.cli("model", "promote", load_model().version, "--reason", "r", check=False),
        errors.FAILED,
        "is the champion already",
    )
    _one_error_line(local_stack.cli("model", "rollback", "--reason", "r", check=False), errors.FAILED, "no previous")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the socket is: nothing answers there
    closed = _with_env(local_stack.cli, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    _one_error_line(
        closed("model", "list", "--bucket", "creditwatch-registry", check=False),
        errors.UNREACHABLE,
        "cannot be reached",
    )
