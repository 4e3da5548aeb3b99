"""The README's first command: `creditwatch demo` (what `make demo` runs) from no stack to a summary."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_main_job_and_leaves_the_stack_down(fresh_cli: Any, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    proc = fresh_cli("demo", "--json", "--port", str(_free_port()), "--reports-dir", str(reports))
    result = json.loads(proc.stdout)
    assert result["ok"] is True, [s for s in result["steps"] if not s["ok"]]
    assert result["traffic"]["predictions"] == 800
    assert result["drift_baseline"]["dataset_drift"] is False
    assert result["drift"]["dataset_drift"] is True and result["drift"]["drifted_features"]
    report = Path(result["report_path"])
    assert report.parent == reports and report.stat().st_size > 100_000
    assert report.with_suffix(".json").exists()
    texts = [m["payload"]["text"] for m in result["slack_messages"]]
    assert len(texts) == 2 and any("ALERT" in t for t in texts) and any("DRIFT" in t for t in texts)
    # The stack is down afterwards.
    assert fresh_cli("local", "status", check=False).returncode == 3


def test_demo_fails_loudly_when_a_step_cannot_do_its_job(fresh_cli: Any, tmp_path: Path) -> None:
    # Too little traffic for the drift job's minimum: the drift steps fail, so the demo exits non-zero.
    proc = fresh_cli(
        "demo",
        "--stable",
        "10",
        "--drift",
        "10",
        "--errors",
        "1",
        "--port",
        str(_free_port()),
        "--reports-dir",
        str(tmp_path / "r"),
        check=False,
    )
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "insufficient data" in proc.stdout
