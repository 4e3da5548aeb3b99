"""Sending simulated traffic to the local stack (in-process handler, HTTP, or the log for faults) and tallying it."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from creditwatch.simulate.traffic import DriftShift, Request, application_pool, generate
from creditwatch_common.ids import iso_utc


@dataclass
class Tally:
    """What the simulation did, for its summary table."""

    by_scenario: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None

    def window(self) -> dict[str, str] | None:
        """The whole seconds [start, end) that hold this traffic, as the drift job takes a window."""
        if self.started is None or self.ended is None:
            return None
        start = self.started.replace(microsecond=0)
        end = self.ended.replace(microsecond=0) + timedelta(seconds=1)
        return {"start": iso_utc(start), "end": iso_utc(end)}

    def add(self, scenario: str, status: int, latency_ms: float, decision: str | None) -> None:
        """Count one request."""
        self.by_scenario[scenario.split(":")[0]] += 1
        self.by_status[status] += 1
        self.latencies_ms.append(latency_ms)
        if decision:
            self.decisions[decision] += 1

    @property
    def total(self) -> int:
        """Requests sent."""
        return sum(self.by_scenario.values())

    def latency(self, q: float) -> float:
        """A latency percentile (ms)."""
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0

    def approval_rate(self) -> float | None:
        """Share of scored applications approved."""
        n = sum(self.decisions.values())
        return self.decisions["approve"] / n if n else None

    def as_dict(self) -> dict[str, Any]:
        """Plain summary."""
        return {
            "requests": self.total,
            "window": self.window(),
            "by_scenario": dict(self.by_scenario),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "decisions": dict(self.decisions),
            "approval_rate": self.approval_rate(),
            "latency_ms": {
                "p50": self.latency(50),
                "p95": self.latency(95),
                "p99": self.latency(99),
                "mean": statistics.fmean(self.latencies_ms) if self.latencies_ms else 0.0,
            },
        }


Sender = Callable[[Request], tuple[int, float, str | None]]


def _event_template() -> dict[str, Any]:
    from creditwatch.paths import EVENTS

    event: dict[str, Any] = json.loads((EVENTS / "predict-valid.json").read_text())
    return event


Call = Callable[[str, str], tuple[int, float, dict[str, Any]]]


def local_handler(
    endpoint: str, overrides: dict[str, str] | None = None, environment: dict[str, str] | None = None
) -> Call:
    """A call of the predict function's Lambda handler in this process, configured for the local stack.

    The call takes a route and a body and gives the status, the latency (ms) and the JSON answer.
    `overrides` are template parameters (as `creditwatch serve --parameter`), e.g. the referral rules;
    `environment`, variables of the function's own settings set over the template's.
    """
    import contextlib
    import copy
    import io
    import os
    import time

    from creditwatch.local.bootstrap import LocalContext
    from creditwatch.local.invoke import function_environment
    from creditwatch.local.template import Template

    spec = Template(endpoint=endpoint, overrides=overrides or {}).function("PredictFunction")
    # Powertools reads its log level from the environment; the function's settings come from the template.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    from creditwatch.local.stack import local_session
    from creditwatch_common.aws import AwsClients
    from creditwatch_common.ids import uuid7
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings.model_validate({**function_environment(spec, endpoint), **(environment or {})})
    lambda_handler = build(settings, AwsClients(local_session(), endpoint_url=endpoint)).handler

    template = _event_template()
    context = LocalContext("PredictFunction", spec.memory, spec.timeout)

    def call(route: str, body: str) -> tuple[int, float, dict[str, Any]]:
        event = copy.deepcopy(template)
        event["rawPath"] = event["requestContext"]["http"]["path"] = route
        event["requestContext"]["requestId"] = uuid7()  # time-ordered: `log get <request id>` finds it
        event["body"] = body
        # Each call is one invocation, with the whole timeout before it: a clock started once would run
        # out after the first 29 s of a long simulation and every later write would meet its deadline.
        context.start()
        started = time.perf_counter()
        # The handler prints EMF metrics on stdout, as in Lambda; here they would drown the summary.
        with contextlib.redirect_stdout(io.StringIO()):
            resp = lambda_handler(event, context)
        latency = (time.perf_counter() - started) * 1000
        return int(resp["statusCode"]), latency, json.loads(resp.get("body") or "{}")

    return call


def handler_sender(endpoint: str) -> Sender:
    """Send through the predict function's Lambda handler in this process, configured for the local stack."""
    call = local_handler(endpoint)

    def send(req: Request) -> tuple[int, float, str | None]:
        status, latency, body = call(req.route, req.body or "")
        return status, latency, body.get("decision")

    return send


def outcome_poster(
    endpoint: str, target: str = "handler", url: str = "http://127.0.0.1:8000"
) -> Callable[[list[dict[str, Any]]], tuple[int, dict[str, Any]]]:
    """POST /outcomes through the in-process handler (target handler) or a running API (target http)."""
    if target == "handler":
        call = local_handler(endpoint)

        def post(items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
            status, _, body = call("/outcomes", json.dumps({"outcomes": items}))
            return status, body

        return post
    import httpx

    client = httpx.Client(base_url=url, timeout=120)

    def post_http(items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        resp = client.post("/outcomes", json={"outcomes": items})
        ok_json = resp.headers.get("content-type", "").startswith("application/json")
        return resp.status_code, resp.json() if ok_json else {"body": resp.text[:300]}

    return post_http


def http_sender(base_url: str) -> Sender:
    """Send to a running API (`creditwatch serve`) over HTTP."""
    import time

    import httpx

    client = httpx.Client(base_url=base_url, timeout=10)

    def send(req: Request) -> tuple[int, float, str | None]:
        started = time.perf_counter()
        resp = client.post(req.route, content=req.body or "", headers={"content-type": "application/json"})
        latency = (time.perf_counter() - started) * 1000
        decision = (
            resp.json().get("decision") if resp.headers.get("content-type", "").startswith("application/json") else None
        )
        return resp.status_code, latency, decision

    return send


def fault_writer(endpoint: str, seed: int) -> Sender:
    """Records failing (5xx) or slow requests straight into the LOCAL prediction log, marked simulated.

    This is how the alerts can be tried locally without any back door in the API: it refuses any
    endpoint that is not on this machine.
    """
    from urllib.parse import urlparse

    from creditwatch.local.stack import boto_client
    from creditwatch.local.template import Template
    from creditwatch_common.ids import uuid7
    from creditwatch_common.log import LogWriter
    from creditwatch_common.records import LogRecord

    host = urlparse(endpoint).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"fault scenarios write only to a local stack, not {endpoint}")
    template = Template(endpoint=endpoint)
    log = LogWriter(
        dynamodb=boto_client("dynamodb", endpoint),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
    )
    rng = random.Random(seed)
    version = "simulated"

    def send(req: Request) -> tuple[int, float, str | None]:
        if req.fault == "errors":
            status, latency = 500, rng.uniform(5, 40)
            extra = {"error_class": "internal_error", "error_detail": "simulated server error (local fault scenario)"}
        else:
            status, latency = 200, rng.uniform(250, 900)
            extra = {}
        log.write(
            [
                LogRecord(
                    request_id=uuid7(),
                    route=req.route,
                    status=status,
                    latency_ms=round(latency, 3),
                    model_version=version,
                    **extra,
                )
            ]
        )
        return status, latency, None

    return send


def run_simulation(
    counts: dict[str, int],
    seed: int,
    endpoint: str,
    target: str = "handler",
    url: str = "http://127.0.0.1:8000",
    shift: DriftShift | None = None,
    progress: Callable[[int], None] | None = None,
) -> Tally:
    """Generate the traffic and send it; faults are recorded in the local log."""
    from creditwatch_model import REFERENCE_FILE, load_model, model_dir

    model = load_model()
    reference = pd.read_csv(
        model_dir() / REFERENCE_FILE, dtype={f.name: str for f in model.schema.features if f.is_categorical}
    )
    pool = application_pool(model, reference)
    sender = handler_sender(endpoint) if target == "handler" else http_sender(url)
    faults = fault_writer(endpoint, seed) if counts.get("errors") or counts.get("slow") else None
    tally = Tally(started=datetime.now(UTC))
    for req in generate(model, pool, counts, seed, shift):
        send = faults if req.fault and faults else sender
        status, latency, decision = send(req)
        tally.add(req.scenario, status, latency, decision)
        if progress:
            progress(1)
    tally.ended = datetime.now(UTC)
    return tally
