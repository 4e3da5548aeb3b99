"""Realistic traffic for the local stack: stable, drifted, invalid and faulty requests."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from creditwatch_common.ids import iso_utc
from creditwatch_model import CreditModel

SCENARIOS = ("stable", "drift", "bias", "invalid", "errors", "slow")

# `simulate --scenario NAME`: what each named scenario sends; an explicit count replaces its kind's.
PRESETS: dict[str, dict[str, int]] = {
    "stable": {"stable": 200},
    "drift": {"drift": 200},
    "bias": {"bias": 300},
    "invalid": {"invalid": 20},
    "faults": {"errors": 20, "slow": 10},
    "day": {"stable": 300, "drift": 300, "invalid": 20, "errors": 40, "slow": 10},
}


def plan_counts(scenario: str | None, explicit: dict[str, int | None]) -> dict[str, int]:
    """The counts to send: the scenario's, with explicit counts replacing its own; nothing else is added."""
    if scenario is not None and scenario not in PRESETS:
        raise ValueError(f"unknown scenario {scenario}: choose from {', '.join(PRESETS)}")
    counts = dict(PRESETS[scenario]) if scenario else {}
    counts.update({k: v for k, v in explicit.items() if v is not None})
    counts = {k: v for k, v in counts.items() if v}
    if any(v < 0 for v in counts.values()):
        raise ValueError("counts cannot be negative")
    if not counts:
        raise ValueError(
            "nothing to send: name a scenario (--scenario " + "|".join(PRESETS) + ") or give counts, e.g. --stable 200"
        )
    return counts


# Where the `drift` scenario moves categorical features: a younger, renting, less-saving population
# borrowing more for business and new cars (what a new marketing channel might bring).
DEFAULT_RECODES: dict[str, str] = {
    "status_of_existing_checking_account": "A11",
    "savings_account_and_bonds": "A61",
    "present_employment_since": "A72",
    "purpose": "A49",
    "housing": "A151",
}


@dataclass(frozen=True)
class DriftShift:
    """How the `drift` scenario shifts the population."""

    amount_factor: float = 2.5  # credit_amount x factor
    duration_add: int = 18  # months added to duration_in_month (capped at the schema's maximum)
    age_add: int = -8  # years added to age_in_years (kept within the schema's range)
    recode_share: float = 0.6  # share of applicants whose categorical features move to DEFAULT_RECODES
    recodes: tuple[tuple[str, str], ...] = tuple(DEFAULT_RECODES.items())

    def describe(self) -> str:
        """One line for summaries."""
        moved = ", ".join(f"{k}->{v}" for k, v in self.recodes)
        return (
            f"credit_amount x{self.amount_factor}, duration_in_month {self.duration_add:+d} months, "
            f"age_in_years {self.age_add:+d} years, {self.recode_share:.0%} of applicants moved to {moved}"
        )

    @property
    def features(self) -> list[str]:
        """Features this shift moves."""
        return ["credit_amount", "duration_in_month", "age_in_years", *(k for k, _ in self.recodes)]


# personal_status_and_sex codes of female applicants (A92, A95); A91, A93, A94 are male.
FEMALE = frozenset({"A92", "A95"})


@dataclass(frozen=True)
class BiasShift:
    """How the `bias` scenario changes one group: its approvals collapse for reasons correlated with it.

    Female applicants arrive asking for larger, longer loans with an overdrawn checking account and no
    savings (what a channel aimed at them might bring); everyone else is drawn like the training data.
    The model never sees sex as such here: the disparity comes from features that travel with it.
    """

    group: frozenset[str] = FEMALE
    amount_factor: float = 3.0
    duration_add: int = 24
    recodes: tuple[tuple[str, str], ...] = (
        ("status_of_existing_checking_account", "A11"),
        ("savings_account_and_bonds", "A61"),
    )

    def describe(self) -> str:
        """One line for summaries."""
        moved = ", ".join(f"{k}->{v}" for k, v in self.recodes)
        return (
            f"female applicants only: credit_amount x{self.amount_factor}, duration_in_month "
            f"{self.duration_add:+d} months, {moved}"
        )

    def apply(self, app: dict[str, Any], model: CreditModel) -> dict[str, Any]:
        """The application as this scenario sends it (unchanged outside the group)."""
        if app["personal_status_and_sex"] not in self.group:
            return app
        bounds = {f.name: f for f in model.schema.features}
        out = dict(app)
        out["credit_amount"] = min(
            float(bounds["credit_amount"].maximum or 1e6), round(out["credit_amount"] * self.amount_factor, 2)
        )
        out["duration_in_month"] = min(
            int(bounds["duration_in_month"].maximum or 120), out["duration_in_month"] + self.duration_add
        )
        out.update(dict(self.recodes))
        return out


@dataclass
class Request:
    """One simulated request: a body for a route, or a fault to record."""

    scenario: str
    route: str
    body: str | None
    fault: str | None = None


def application_pool(model: CreditModel, reference: pd.DataFrame) -> list[dict[str, Any]]:
    """The training rows as snake_case applications (what `stable` draws from)."""
    return [
        {
            f.name: (str(r[f.name]) if f.is_categorical else (int(r[f.name]) if f.dtype == "int" else float(r[f.name])))
            for f in model.schema.features
        }
        for r in reference.to_dict("records")
    ]


def shift_application(
    app: dict[str, Any], shift: DriftShift, model: CreditModel, draws: Sequence[float]
) -> dict[str, Any]:
    """The application moved by `shift`; the i-th recode applies when draws[i] < shift.recode_share."""
    bounds = {f.name: f for f in model.schema.features}
    out = dict(app)
    out["credit_amount"] = min(
        float(bounds["credit_amount"].maximum or 1e6), round(out["credit_amount"] * shift.amount_factor, 2)
    )
    out["duration_in_month"] = min(
        int(bounds["duration_in_month"].maximum or 120), out["duration_in_month"] + shift.duration_add
    )
    age = bounds["age_in_years"]
    out["age_in_years"] = max(int(age.minimum or 18), min(int(age.maximum or 100), out["age_in_years"] + shift.age_add))
    for (name, code), draw in zip(shift.recodes, draws, strict=True):
        if draw < shift.recode_share:
            out[name] = code
    return out


def _shift(app: dict[str, Any], shift: DriftShift, rng: random.Random, model: CreditModel) -> dict[str, Any]:
    return shift_application(app, shift, model, [rng.random() for _ in shift.recodes])


def _invalid(app: dict[str, Any], rng: random.Random) -> tuple[str, str]:
    """A malformed or out-of-range request body, of one of several kinds."""
    kind = rng.choice(["unknown_code", "out_of_range", "missing_field", "wrong_type", "malformed_json", "extra_field"])
    bad = dict(app)
    if kind == "unknown_code":
        bad["purpose"] = "A499"
    elif kind == "out_of_range":
        bad["age_in_years"] = rng.choice([7, 130])
    elif kind == "missing_field":
        bad.pop("credit_history")
    elif kind == "wrong_type":
        bad["credit_amount"] = "a lot"
    elif kind == "extra_field":
        bad["present_residence_since"] = 2
    else:
        return kind, json.dumps(bad)[:-7]
    return kind, json.dumps(bad)


def generate(
    model: CreditModel, pool: list[dict[str, Any]], counts: dict[str, int], seed: int, shift: DriftShift | None = None
) -> Iterator[Request]:
    """The requests of each scenario, interleaved; the same seed gives the same traffic."""
    rng = random.Random(seed)
    shift = shift or DriftShift()
    plan = [s for s, n in counts.items() for _ in range(n)]
    rng.shuffle(plan)
    for scenario in plan:
        app = rng.choice(pool)
        if scenario == "stable":
            yield Request(scenario, "/predict", json.dumps(app))
        elif scenario == "drift":
            yield Request(scenario, "/predict", json.dumps(_shift(app, shift, rng, model)))
        elif scenario == "bias":
            yield Request(scenario, "/predict", json.dumps(BiasShift().apply(app, model)))
        elif scenario == "invalid":
            kind, body = _invalid(app, rng)
            yield Request(f"invalid:{kind}", "/predict", body)
        elif scenario in ("errors", "slow"):
            yield Request(scenario, "/predict", json.dumps(app), fault=scenario)
        else:
            raise ValueError(f"unknown scenario {scenario}; choose from {', '.join(SCENARIOS)}")


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


def local_handler(endpoint: str) -> Call:
    """A call of the predict function's Lambda handler in this process, configured for the local stack.

    The call takes a route and a body and gives the status, the latency (ms) and the JSON answer.
    """
    import contextlib
    import copy
    import io
    import os
    import time

    from creditwatch.local.bootstrap import LocalContext
    from creditwatch.local.invoke import function_environment
    from creditwatch.local.template import Template

    spec = Template(endpoint=endpoint).function("PredictFunction")
    # Powertools reads its log level from the environment; the function's settings come from the template.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    import boto3

    from creditwatch.local.stack import LOCAL_REGION
    from creditwatch_common.aws import AwsClients
    from creditwatch_common.ids import uuid7
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings.model_validate(function_environment(spec, endpoint))
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
    )
    lambda_handler = build(settings, AwsClients(session, endpoint_url=endpoint)).handler

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
