"""Invokes a function of template.yaml against the local stack, with or without `sam build`."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from creditwatch.local.stack import local_api_url, local_env
from creditwatch.local.template import FunctionSpec, Template

SERVICE_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"
# Time the interpreter may take to import the handler (Lambda's init phase has its own 10 s limit;
# the drift function's Evidently import takes longer on a cold laptop).
INIT_ALLOWANCE_S = 60


@dataclass
class InvokeResult:
    """The function's result (parsed JSON), its log and whether it raised."""

    result: Any
    stdout: str
    stderr: str
    returncode: int

    @property
    def function_error(self) -> bool:
        """True when the handler raised (Lambda's FunctionError)."""
        return self.returncode != 0


def function_environment(spec: FunctionSpec, endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The function's environment as the template resolves it, pointed at the local stack."""
    env = {k: spec.map_opt(v) for k, v in spec.environment.items()}
    env.update(local_env(endpoint))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        }
    )
    if "MODEL_VERSION" in env:
        # Deployed, the version is pinned in the configuration and a promotion ships through the canary;
        # the local stack has no canary: its predict function follows the registry's aliases instead.
        env["MODEL_VERSION"] = ""
    if "REPORT_LINK_BASE_URL" in env:
        # Locally the API is `creditwatch serve`, not API Gateway: links must open there.
        env["REPORT_LINK_BASE_URL"] = local_api_url()
    env.update(extra or {})
    return env


def invoke(
    template: Template,
    logical_id: str,
    event: Any,
    endpoint: str,
    extra_env: dict[str, str] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> InvokeResult:
    """Run the handler in a new interpreter with the function's code, layers and environment.

    `on_log(line)` gets each line of the function's log as it is written (a long job shows signs of life).
    """
    spec = template.function(logical_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(function_environment(spec, endpoint, extra_env))
    # Per-service endpoints pass through (boto3 prefers them to AWS_ENDPOINT_URL): one service can be
    # pointed at a faulty endpoint while the rest stay on the local stack.
    env.update({k: v for k, v in os.environ.items() if k.startswith(SERVICE_ENDPOINT_PREFIX)})
    # The bootstrap comes from this very package (last, so the function's code and layers win).
    bootstrap_root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*spec.python_path, bootstrap_root])
    command = [
        sys.executable,
        "-m",
        "creditwatch.local.bootstrap",
        spec.handler,
        spec.logical_id,
        str(spec.memory),
        str(spec.timeout),
    ]
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=_drain, args=(proc.stdout, out, None), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, err, on_log), daemon=True),
        ]
        for reader in readers:
            reader.start()
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(json.dumps(event))
            proc.stdin.close()
        try:
            returncode = proc.wait(timeout=spec.timeout + INIT_ALLOWANCE_S)
        except subprocess.TimeoutExpired:
            # The bootstrap stops the handler at its deadline; this is the backstop for a hung init.
            proc.kill()
            proc.wait()
            for reader in readers:
                reader.join()
            message = f"Task timed out after {spec.timeout:.2f} seconds (init included)"
            return InvokeResult({"errorMessage": message, "errorType": "Sandbox.Timedout"}, "", "".join(err), 124)
        for reader in readers:
            reader.join()
    stdout = "".join(out)
    last = stdout.strip().splitlines()[-1] if stdout.strip() else "null"
    return InvokeResult(result=json.loads(last), stdout=stdout, stderr="".join(err), returncode=returncode)


def _drain(stream: IO[str] | None, into: list[str], on_line: Callable[[str], None] | None) -> None:
    """Read a pipe to its end, line by line (a full pipe would stall the function)."""
    assert stream is not None
    for line in stream:
        into.append(line)
        if on_line is not None:
            on_line(line)
