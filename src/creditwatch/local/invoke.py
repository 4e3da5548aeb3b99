"""Invokes a function of template.yaml against the local stack, with or without `sam build`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    if "REPORT_LINK_BASE_URL" in env:
        # Locally the API is `creditwatch serve`, not API Gateway: links must open there.
        env["REPORT_LINK_BASE_URL"] = local_api_url()
    env.update(extra or {})
    return env


def invoke(
    template: Template, logical_id: str, event: Any, endpoint: str, extra_env: dict[str, str] | None = None
) -> InvokeResult:
    """Run the handler in a new interpreter with the function's code, layers and environment."""
    spec = template.function(logical_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(function_environment(spec, endpoint, extra_env))
    # Per-service endpoints pass through (boto3 prefers them to AWS_ENDPOINT_URL): one service can be
    # pointed at a faulty endpoint while the rest stay on the local stack.
    env.update({k: v for k, v in os.environ.items() if k.startswith(SERVICE_ENDPOINT_PREFIX)})
    # The bootstrap comes from this very package (last, so the function's code and layers win).
    bootstrap_root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*spec.python_path, bootstrap_root])
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "creditwatch.local.bootstrap",
                spec.handler,
                spec.logical_id,
                str(spec.memory),
                str(spec.timeout),
            ],
            input=json.dumps(event),
            capture_output=True,
            text=True,
            env=env,
            timeout=spec.timeout + INIT_ALLOWANCE_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        # The bootstrap stops the handler at its deadline; this is the backstop for a hung init.
        message = f"Task timed out after {spec.timeout:.2f} seconds (init included)"
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return InvokeResult({"errorMessage": message, "errorType": "Sandbox.Timedout"}, "", stderr, 124)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "null"
    return InvokeResult(result=json.loads(last), stdout=proc.stdout, stderr=proc.stderr, returncode=proc.returncode)
