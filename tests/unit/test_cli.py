"""The CLI in-process: sub-commands, old spellings, and one `error:` line with its documented code."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from creditwatch import errors
from creditwatch.cli import app
from creditwatch.paths import EVENTS


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _one_error_line(result: Any, code: int, *phrases: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return str(lines[0])


@pytest.fixture
def listening() -> Iterator[int]:
    """A port another process (this socket) holds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.fixture
def no_stack(tmp_path: Path) -> Iterator[Path]:
    from creditwatch.local import stack

    with stack.using_state_dir(tmp_path):
        yield tmp_path


def test_explain_of_an_id_that_is_not_a_uuid_is_a_usage_error() -> None:
    _one_error_line(_run("explain", "--prediction-id", "nope"), errors.USAGE, "nope is not a prediction id")


def test_explain_without_an_event_or_an_id_is_a_usage_error() -> None:
    _one_error_line(_run("explain"), errors.USAGE, "--event FILE", "--prediction-id ID")


def test_explain_of_an_invalid_application_names_fields_and_allowed_values_in_one_line() -> None:
    line = _one_error_line(
        _run("explain", "-e", str(EVENTS / "predict-invalid-code-and-range.json")),
        errors.USAGE,
        "Status of existing checking account",
        "'A11', 'A12', 'A13' or 'A14'",
        "Age in years",
    )
    assert "pydantic.dev" not in line


def test_explain_of_an_application_with_many_problems_shows_the_first_five_and_counts_the_rest(tmp_path: Path) -> None:
    body = json.loads(json.loads((EVENTS / "predict-valid.json").read_text())["body"])
    wrong = {k: "?" for k in list(body)[:8]}
    (tmp_path / "bad.json").write_text(json.dumps({**body, **wrong}))
    line = _one_error_line(_run("explain", "-e", str(tmp_path / "bad.json")), errors.USAGE, "and 3 more")
    assert line.count("Input should be") == 5 and "pydantic.dev" not in line


def test_explain_of_a_batch_says_it_takes_one_application() -> None:
    _one_error_line(_run("explain", "-e", str(EVENTS / "predict-batch-invalid-item.json")), errors.USAGE, "batch of 2")


def test_drift_with_the_start_after_the_end_is_one_plain_usage_line() -> None:
    line = _one_error_line(
        _run("drift", "--start", "2026-11-02T00:00:00Z", "--end", "2026-11-01T00:00:00Z"),
        errors.USAGE,
        "--start 2026-11-02T00:00:00Z is not before --end",
    )
    assert "{" not in line


def test_drift_with_last_and_a_start_is_one_usage_line() -> None:
    _one_error_line(
        _run("drift", "--last", "1h", "--start", "2026-01-01T00:00:00Z"), errors.USAGE, "give either --last or --start"
    )


def test_last_gives_a_window_of_that_length_ending_now() -> None:
    from datetime import UTC, datetime, timedelta

    from creditwatch.cli.common import window

    before = datetime.now(UTC)
    span = window(None, None, "1h", "1h")
    start, end = (datetime.fromisoformat(span[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert end - start == timedelta(hours=1) and before <= end <= datetime.now(UTC) + timedelta(seconds=1)


def test_lake_export_of_zero_hours_is_a_usage_error() -> None:
    _one_error_line(_run("lake", "export", "--hours", "0"), errors.USAGE, "--hours must be at least 1")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("--backfill",), "--backfill needs --start"),
        (("--start", "2026-09-01"), "--start and --end go with --backfill"),
        (("--backfill", "--start", "2026-09-01", "--hours", "3"), "do not go together"),
        (("--backfill", "--start", "September"), "is not a day"),
        (("--backfill", "--start", "2026-09-01T10:00"), "has no time zone"),
        (("--backfill", "--start", "2026-09-02", "--end", "2026-09-01"), "is not before the end"),
    ],
)
def test_a_lake_backfill_without_a_proper_span_is_a_usage_error(args: tuple[str, ...], phrase: str) -> None:
    _one_error_line(_run("lake", "export", *args), errors.USAGE, phrase)


def test_serve_on_a_taken_port_exits_with_the_port_taken_code(listening: int) -> None:
    _one_error_line(_run("serve", "--port", str(listening)), errors.UNREACHABLE, f"port {listening}", "--port")


def test_local_up_refuses_a_taken_slack_sink_port_before_starting_anything(no_stack: Path, listening: int) -> None:
    from creditwatch.local import stack

    with socket.socket() as s:  # a free port for moto, released before `local up` binds it
        s.bind(("127.0.0.1", 0))
        moto_port = s.getsockname()[1]
    result = _run("local", "up", "--port", str(moto_port), "--sink-port", str(listening))
    _one_error_line(result, errors.UNREACHABLE, f"port {listening}", "--sink-port")
    assert stack.load_state() is None and stack.port_free("127.0.0.1", moto_port)


def test_an_old_spelling_still_works_and_prints_one_deprecation_line() -> None:
    result = _run("simulate", "--history", "30", "--scenario", "drift")
    assert result.stderr.splitlines()[0] == "deprecated: use `creditwatch simulate history`"
    after_the_note = [line for line in result.stderr.splitlines()[1:] if line.strip()]
    assert after_the_note == [
        "error: drift is not a history scenario: simulate history needs --scenario stable|concept-drift|covariate-shift"
    ]
    assert result.exit_code == errors.USAGE


def test_old_spellings_are_rewritten_to_their_sub_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from creditwatch.cli.legacy import modernize

    assert modernize(["report", "--list", "--json"]) == ["report", "list", "--json"]
    assert modernize(["--debug", "report", "--index", "--rebuild"]) == ["--debug", "report", "index", "--rebuild"]
    assert modernize(["report", "--revoke=abc", "--json"]) == ["report", "revoke", "abc", "--json"]
    assert modernize(["report", "--bucket", "b"]) == ["report", "show", "--bucket", "b"]
    assert modernize(["simulate", "--history", "90", "--scenario", "x"]) == [
        "simulate",
        "history",
        "90",
        "--scenario",
        "x",
    ]
    assert modernize(["simulate", "--stable", "5"]) == ["simulate", "traffic", "--stable", "5"]
    assert len(capsys.readouterr().err.splitlines()) == 6
    for new in (["report", "list"], ["simulate", "traffic", "--drift", "3"], ["simulate"], ["report", "--help"]):
        assert modernize(new) == new
    assert capsys.readouterr().err == ""


def test_alerts_print_each_conditions_value_and_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    from creditwatch.cli import render

    condition = {"title": "Latency p95", "firing": True, "value": 812.4, "threshold": 500.0, "unit": "ms"}
    render.alerts({"conditions": [{**condition, "detail": "p95 over 31 requests"}], "stats": {}, "posted": []})
    assert "FIRING  Latency p95: 812.4 ms (threshold 500 ms): p95 over 31 requests" in capsys.readouterr().out


def test_a_window_the_drift_job_refuses_reads_as_plain_words() -> None:
    from creditwatch.cli.common import plain_errors
    from creditwatch_common.events import InvalidEvent, parse_event
    from creditwatch_drift.models import DriftEvent

    with pytest.raises(InvalidEvent) as refused:
        parse_event(DriftEvent, {"start": "2026-11-22T00:00:00", "end": "2026-11-23T00:00:00"}, "drift event")
    assert plain_errors(refused.value.errors) == "start and end need a time zone (e.g. 2026-11-22T00:00:00Z)"
    with pytest.raises(InvalidEvent) as refused:
        parse_event(DriftEvent, {"days": 0, "threshold": 2}, "drift event")
    assert plain_errors(refused.value.errors) == (
        "days: Input should be greater than 0 (got 0); threshold: Input should be less than or equal to 1 (got 2)"
    )
