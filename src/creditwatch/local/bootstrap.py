"""Runs one Lambda handler in a fresh interpreter, the way `sam local invoke` does in its container.

Reads the event on stdin; prints the handler's JSON result on stdout and everything the function
writes (logs, EMF metrics) on stderr. As on Lambda, the function's Timeout counts from the handler
call (after the import, Lambda's init phase), and a handler still running at the deadline is
stopped: the result is Lambda's `Task timed out after N seconds` function error.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import uuid
from typing import Any


class LocalContext:
    """The attributes of Lambda's context object that functions and Powertools read."""

    def __init__(self, name: str, memory: int, timeout: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ.get('AWS_REGION', 'us-east-1')}:123456789012:function:{name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout

    def start(self) -> None:
        """Start the clock: Lambda's deadline counts from the handler call, not from init."""
        self._deadline = time.monotonic() + self.timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    """Import the handler named in argv[1], call it with stdin's event, print its result."""
    handler_path, name, memory, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    event = json.loads(sys.stdin.read() or "{}")
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # Lambda sends stdout to the log; keep ours for the result alone
    module_name, func_name = handler_path.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
        context = LocalContext(name, memory, timeout)
        timer = _stop_at_deadline(timeout, real_stdout)
        context.start()
        try:
            result: Any = handler(event, context)
        finally:
            timer.cancel()
    except Exception as exc:  # noqa: BLE001 - reported as Lambda reports a function error
        import traceback

        traceback.print_exc()
        result = {"errorMessage": str(exc), "errorType": type(exc).__name__}
        real_stdout.write(json.dumps(result) + "\n")
        return 1
    real_stdout.write(json.dumps(result, default=str) + "\n")
    return 0


def _stop_at_deadline(timeout: int, out: Any) -> threading.Timer:
    """End the process at the deadline with Lambda's timeout error, as Lambda stops a function that overruns."""

    def expire() -> None:
        result = {"errorMessage": f"Task timed out after {timeout:.2f} seconds", "errorType": "Sandbox.Timedout"}
        sys.stderr.write(f"Task timed out after {timeout:.2f} seconds\n")
        sys.stderr.flush()
        out.write(json.dumps(result) + "\n")
        out.flush()
        os._exit(TIMED_OUT)  # no cleanup: the handler's threads are stopped mid-call, as on Lambda

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    return timer


TIMED_OUT = 124  # the exit status of timeout(1)

if __name__ == "__main__":
    sys.exit(main())
