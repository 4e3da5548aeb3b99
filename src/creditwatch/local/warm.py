"""Invokes a function of template.yaml in this interpreter, warm after its first call (as Lambda reuses an instance).

For a caller that runs job after job on one local stack (the demo): `invoke` starts a fresh interpreter
for every call, which pays the handler's imports (the drift image's pandas, pyarrow, Evidently: seconds
on a busy laptop) again and again and proves nothing the first call did not. Here the function's code
and layers join sys.path, its environment (as `invoke` gives it) is set for the import and for each
call only, then restored, and what the handler prints (its log, EMF metrics) is captured as `invoke`
captures the subprocess's stderr. No deadline is enforced and a hung handler hangs the caller: use
`invoke` for that. A function already warm for another endpoint is invoked cold, by `invoke`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from creditwatch.local.bootstrap import LocalContext
from creditwatch.local.invoke import InvokeResult, function_environment, invoke
from creditwatch.local.template import Template

# logical id -> (endpoint, handler): the warm instances of this process.
_WARM: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {}
# One call at a time: the process environment is the function's while it runs.
_LOCK = threading.Lock()


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ as Lambda gives the function (no AWS_/POWERTOOLS_ variable of ours), restored afterwards."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(("AWS_", "POWERTOOLS_"))]:
            del os.environ[key]
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke_warm(
    template: Template, logical_id: str, event: Any, endpoint: str, extra_env: dict[str, str] | None = None
) -> InvokeResult:
    """Call the handler in this interpreter (imported on the first call), its result as `invoke` gives it.

    `extra_env` counts at the first call only (the instance is built then), as a Lambda's configuration.
    """
    spec = template.function(logical_id)
    warm = _WARM.get(logical_id)
    if warm is not None and warm[0] != endpoint:
        return invoke(template, logical_id, event, endpoint, extra_env)
    env = function_environment(spec, endpoint, extra_env)
    # Per-service endpoints pass through, as `invoke` passes them.
    env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL_")})
    for path in (str(p) for p in spec.python_path):
        if path not in sys.path:
            sys.path.append(path)  # after ours: the same packages as the process already imported
    log = io.StringIO()
    with _LOCK, _environment(env), contextlib.redirect_stdout(log):
        try:
            if warm is None:
                module_name, func_name = spec.handler.rsplit(".", 1)
                warm = (endpoint, getattr(importlib.import_module(module_name), func_name))
                _WARM[logical_id] = warm
            context = LocalContext(spec.logical_id, spec.memory, spec.timeout)
            context.start()
            result = warm[1](json.loads(json.dumps(event)), context)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports a function error
            traceback.print_exc(file=log)
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            return InvokeResult(result=error, stdout="", stderr=log.getvalue(), returncode=1)
    # Through JSON, as the subprocess's result comes: the caller gets what `invoke` would give it.
    return InvokeResult(
        result=json.loads(json.dumps(result, default=str)), stdout="", stderr=log.getvalue(), returncode=0
    )


def preload(*modules: str) -> threading.Thread:
    """Import modules in a background thread (a warm function's heavy libraries) while the caller does other work.

    The drift job imports Evidently on its first run (seconds): begun early, the import overlaps the
    caller's waits on the local stack. A module that fails to import fails later, where it is used.
    """

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="creditwatch-preload", daemon=True)
    thread.start()
    return thread
