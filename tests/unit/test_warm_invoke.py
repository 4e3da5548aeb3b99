"""Warm invokes (the demo's): a function called in this interpreter answers as a fresh interpreter does."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from faults import threaded_moto

from creditwatch.local.invoke import invoke
from creditwatch.local.resources import create_resources
from creditwatch.local.stack import boto_client
from creditwatch.local.template import Template
from creditwatch.local.warm import invoke_warm

pytestmark = pytest.mark.server  # a new interpreter per test


class _Slack(BaseHTTPRequestHandler):
    """A webhook that takes every post."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The template's resources on a moto server of this module, Slack's webhook answering."""
    slack = ThreadingHTTPServer(("127.0.0.1", 0), _Slack)
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    webhook = f"http://127.0.0.1:{slack.server_address[1]}/hook"
    try:
        with threaded_moto() as url:
            create_resources(Template(endpoint=url), lambda s: boto_client(s, url), webhook_url=webhook)
            yield url
    finally:
        slack.shutdown()
        slack.server_close()


def test_a_warm_invoke_answers_as_a_fresh_interpreter_and_leaves_the_environment_and_stdout_alone(endpoint, capfd):
    template = Template(endpoint=endpoint)
    event = {"source": "creditwatch.test"}
    before = dict(os.environ)
    first = invoke_warm(template, "AlertsFunction", event, endpoint)
    second = invoke_warm(template, "AlertsFunction", event, endpoint)
    cold = invoke(template, "AlertsFunction", event, endpoint)
    assert (first.returncode, second.returncode, cold.returncode) == (0, 0, 0), first.stderr[-2000:]
    counts = [{k: v for k, v in r.result["stats"].items() if not k.startswith("window_")} for r in (first, cold)]
    assert first.result.keys() == cold.result.keys() and counts[0] == counts[1]

    # The same conditions, judged alike (a window's start, named in a detail, moves with the clock).
    def judged(result: Any) -> list[str]:
        return [
            re.sub(r"\d{4}-\d\d-\d\dT[\d:]+Z", "<time>", json.dumps(c, sort_keys=True)) for c in result["conditions"]
        ]

    assert judged(second.result) == judged(cold.result)
    assert dict(os.environ) == before
    assert capfd.readouterr().out == ""  # the function's log and metrics are captured, as invoke's stderr


def test_a_warm_handler_that_raises_is_a_function_error_with_its_traceback(endpoint):
    template = Template(endpoint=endpoint)
    # The quality job without its table: the cohort cannot be read and the run raises, as on Lambda.
    boto_client("dynamodb", endpoint).delete_table(TableName=template.ref("PredictionsTable"))
    try:
        outcome = invoke_warm(template, "QualityFunction", {"days_ago_from": 3, "days_ago_to": 1}, endpoint)
    finally:
        create_resources(template, lambda s: boto_client(s, endpoint))
    assert outcome.returncode == 1 and outcome.function_error, outcome.result
    assert outcome.result["errorType"] == "QualityRunError" and "Traceback" in outcome.stderr


def test_a_preload_imports_in_the_background_and_passes_over_a_module_that_does_not_import():
    import sys

    from creditwatch.local.warm import preload

    sys.modules.pop("tabnanny", None)
    thread = preload("creditwatch_no_such_module", "tabnanny")
    thread.join(30)
    assert not thread.is_alive() and "tabnanny" in sys.modules
