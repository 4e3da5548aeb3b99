"""The release tooling on the local stack: `creditwatch model gate` and the uptime probe against `creditwatch serve`."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import free_port

from creditwatch_common.records import FullRow
from creditwatch_model import load_model
from creditwatch_probe.probe import Probe, sigv4_signer


def test_model_gate_passes_the_shipped_model_as_the_pre_traffic_hook_would(local_stack: Any) -> None:
    version = load_model().version
    result = local_stack.cli.json("model", "gate", version, "--json")
    assert result["passed"] and result["mode"] == "identity"
    assert result["reason"] == f"model {version} unchanged: 300 answers identical"
    assert [(r["check"], r["ok"]) for r in result["rows"]] == [
        ("answer contract", True),
        ("identical to the frozen replay set", True),
    ]
    # Identical at the replay set's 12 significant digits (the raw floats differ below that).
    assert result["rows"][1]["value"].startswith("0 of 300 differ")


def test_model_gate_fails_a_version_the_local_stack_does_not_serve_with_exit_1(local_stack: Any) -> None:
    proc = local_stack.cli("model", "gate", "c0ffee000001", check=False)
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith("FAIL the answers break the contract: answer 0: model_version")
    assert "expected c0ffee000001 (and 299 more)" in first
    assert "answer contract" in proc.stdout and "NO" in proc.stdout  # the table, its failed row


@pytest.fixture(scope="module")
def served(local_stack: Any) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [local_stack.cli.exe, "serve", "--port", str(port)],
        env=local_stack.cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_probe_passes_against_serve_and_its_application_is_logged_but_in_no_window(
    served: str, stack_client: Any
) -> None:
    from creditwatch.local.template import Template

    credentials = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing").get_credentials()
    result = Probe(served, 5.0, sigv4_signer(credentials, "us-east-1")).run()
    assert result.ok, result
    assert [c.name for c in result.checks] == ["health", "predict"] and all(c.status == 200 for c in result.checks)
    from creditwatch_common.log import LogReader

    template = Template()
    reader = LogReader(
        stack_client("dynamodb"), template.ref("PredictionsTable"), int(template.parameters["LogShards"])
    )
    now = datetime.now(UTC)
    window = (now - timedelta(minutes=5), now + timedelta(minutes=1))
    probes = [r for r in reader.query_window(*window, FullRow, include_synthetic=True) if r.synthetic == "probe"]
    # Both calls are logged (every request is), marked: the health check and the scored application.
    assert sorted(r.route for r in probes) == ["/health", "/predict"]
    assert next(r.decision for r in probes if r.route == "/predict") in ("approve", "refuse")
    assert all(r.synthetic is None for r in reader.query_window(*window, FullRow))


def test_the_probe_says_which_call_failed_when_the_api_is_down() -> None:
    result = Probe(f"http://127.0.0.1:{free_port()}", 1.0).run()
    assert not result.ok
    assert [(c.name, c.ok, c.status) for c in result.checks] == [("health", False, None), ("predict", False, None)]
    assert result.checks[0].detail.startswith("no answer: ")
