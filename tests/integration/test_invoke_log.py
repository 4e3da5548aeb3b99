"""`creditwatch invoke` hands the function's log over line by line while the function runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from creditwatch.local.invoke import invoke
from creditwatch.local.template import FunctionSpec

HANDLER = """
import os, sys, time

def handler(event, context):
    print("first line", file=sys.stderr, flush=True)
    # Answers only once the caller has seen the first line: a log read at the end would never get here.
    deadline = time.monotonic() + 20
    while not os.path.exists(event["seen"]):
        if time.monotonic() > deadline:
            raise TimeoutError("the first line was not read while the function ran")
        time.sleep(0.02)
    return {"ok": True}
"""


class OneFunction:
    """A template of one function: the handler module written to a folder."""

    def __init__(self, code_dir: Path) -> None:
        self.spec = FunctionSpec("LiveFunction", "Zip", "live.handler", code_dir, [], {}, timeout=30, memory=128)

    def function(self, logical_id: str) -> FunctionSpec:
        return self.spec


def test_each_log_line_reaches_the_caller_while_the_function_still_runs(tmp_path: Path) -> None:
    (tmp_path / "live.py").write_text(HANDLER)
    seen = tmp_path / "seen"
    lines: list[str] = []
    lock = threading.Lock()

    def on_log(line: str) -> None:
        with lock:
            lines.append(line)
        if "first line" in line:
            seen.touch()

    template: Any = OneFunction(tmp_path)
    outcome = invoke(template, "LiveFunction", {"seen": str(seen)}, "http://127.0.0.1:9", on_log=on_log)
    assert outcome.returncode == 0 and outcome.result == {"ok": True}, outcome.stderr
    assert any("first line" in line for line in lines) and "first line" in outcome.stderr
