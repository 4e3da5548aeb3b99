"""The main job, end to end on the local stack: traffic, drift reports, alerts, and a summary.

Each step checks what it should have produced (a drift verdict on shifted traffic, none on traffic
drawn like the reference, an alert in the Slack sink...) so that the demo doubles as a smoke test:
the first step that fails stops the run, which then fails.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from creditwatch import lake, reports
from creditwatch.demo_loop import Loop
from creditwatch.demo_review import review_step
from creditwatch.local import stack
from creditwatch.local.invoke import InvokeResult
from creditwatch.local.template import Template
from creditwatch.local.warm import invoke_warm, preload
from creditwatch.paths import REPORTS, STATE_DIR
from creditwatch.simulate import DriftShift, Tally, run_simulation
from creditwatch_common import words


@dataclass
class DemoOptions:
    """How much traffic of each kind, and what to keep afterwards."""

    stable: int = 400
    drift: int = 400
    invalid: int = 20
    errors: int = 60
    slow: int = 20
    seed: int = 42
    # The labelled past the quality job judges: days of backdated traffic with outcomes for approved
    # applicants only (booked loans, as a lender sees them), the model's relation to repayment inverted
    # from `history_change_days_ago` on (concept drift). The cohort after the change ends
    # `history_judged_days_ago` ago: younger decisions have few outcomes yet (30..60 days). About a fifth
    # of the applications become booked loans with an outcome: 70 a day give each cohort ~320 of them,
    # over the quality job's 200.
    history_days: int = 90
    history_per_day: int = 70
    history_change_days_ago: int = 68
    history_judged_days_ago: int = 45
    shift: DriftShift = field(default_factory=DriftShift)
    reports_dir: Path = REPORTS
    # The closing loop after the quality alert (creditwatch.demo_loop): challenger, shadow, compare, promote, quality.
    loop: bool = True


@dataclass
class Step:
    """One step of the demo and whether it did what it should."""

    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class DemoResult:
    """Everything the summary shows."""

    steps: list[Step] = field(default_factory=list)
    traffic: dict[str, Any] = field(default_factory=dict)
    drift_baseline: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    lake: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    quality_stable: dict[str, Any] = field(default_factory=dict)
    quality_drifted: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None
    # The report history's page, saved beside the report (both runs listed, trend charts).
    index_path: str | None = None
    slack_messages: list[dict[str, Any]] = field(default_factory=list)
    # The closing loop (creditwatch.demo_loop): challenger, shadow traffic, comparison, promotion, quality after.
    loop: dict[str, Any] = field(default_factory=dict)
    # The reviewer step (creditwatch.demo_review): referred applications, decisions, referral and override rates.
    review: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every step did what it should."""
        return bool(self.steps) and all(s.ok for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        return {"ok": self.ok, **asdict(self)}


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def quality_said(summary: dict[str, Any]) -> str:
    """A quality run in a line: its verdict, population and figures against validation, and the estimate."""
    population = summary.get("population") or {}
    recent = (summary.get("judged_against") or {}).get("holdout") == "recent"
    rows = "approved rows of the recent holdout" if recent else "approved holdout rows"

    def value(figures: str, name: str, pct: bool = False) -> str:
        got = ((summary.get(figures) or {}).get(name) or {}).get("value")
        return f"{got:.1%}" if pct and got is not None else _num(got)

    return (
        f"{words.quality_verdict(str(summary.get('verdict')))} on {population.get('labelled_rows')} booked loans "
        f"of {summary.get('rows')} predictions: bad rate {value('realized', 'bad_rate_approved', True)} vs "
        f"validation {value('validation', 'bad_rate_approved', True)}, AUC {value('realized', 'auc')} vs "
        f"{value('validation', 'auc')} ({rows}); estimated AUC of all scored "
        f"{value('estimated', 'auc')}"
    )


class StepFailed(Exception):
    """A step did not produce what it should."""


def _window_event(start: datetime, end: datetime) -> dict[str, Any]:
    return {"start": start.isoformat(), "end": end.isoformat()}


def _read_by(summary: dict[str, Any]) -> str:
    """Which engine read the drift window, and how many records each part held."""
    parts = ", ".join(f"{engine} {rows}" for engine, rows in (summary.get("engine_rows") or {}).items())
    return f"window read by {summary.get('engine')} ({summary.get('rows_read')} rows: {parts})"


def _checked(outcome: InvokeResult, name: str) -> Any:
    if outcome.function_error:
        tail = outcome.stderr.strip().splitlines()[-5:]
        raise StepFailed(f"{name} raised: {outcome.result} {' | '.join(tail)}")
    return outcome.result


class Demo:
    """Runs the steps against a running local stack."""

    def __init__(self, endpoint: str, options: DemoOptions, progress: Callable[[str], None]) -> None:
        self.endpoint = endpoint
        self.options = options
        self.progress = progress
        self.template = Template(endpoint=endpoint)
        self.result = DemoResult()

    def step(self, name: str, action: Callable[[], str]) -> bool:
        """Run one step and record its outcome (False: it failed, and the demo stops there)."""
        self.progress(name)
        started = time.perf_counter()
        try:
            detail, ok = action(), True
        except StepFailed as exc:
            detail, ok = str(exc), False
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the run exits non-zero
            detail, ok = f"{type(exc).__name__}: {exc}", False
        self.result.steps.append(Step(name, ok, detail, round(time.perf_counter() - started, 2)))
        return ok

    def invoke(self, logical_id: str, event: dict[str, Any], env: dict[str, str] | None = None) -> Any:
        """Invoke a function of the template as `creditwatch invoke` does, but warm in this interpreter."""
        return _checked(invoke_warm(self.template, logical_id, event, self.endpoint, env), logical_id)

    def run(self) -> DemoResult:
        """Every step in order, up to the first that fails."""
        o = self.options
        marks: dict[str, datetime] = {"t0": datetime.now(UTC) - timedelta(seconds=1)}
        tallies: dict[str, Tally] = {}

        def traffic(name: str, counts: dict[str, int]) -> Callable[[], str]:
            def go() -> str:
                tally = run_simulation(counts, o.seed + len(tallies), self.endpoint, shift=o.shift)
                tallies[name] = tally
                marks[name] = datetime.now(UTC) + timedelta(seconds=1)
                d = tally.as_dict()
                return f"{d['requests']} requests, HTTP {d['by_status']}"

            return go

        def shifted() -> str:
            time.sleep(1.1)  # the next window starts strictly after the previous one ended
            marks["t1"] = datetime.now(UTC)
            return traffic("drift", {"drift": o.drift, "invalid": o.invalid})()

        plan: list[tuple[str, Callable[[], str]]] = [
            ("stable traffic (drawn like the training data)", traffic("stable", {"stable": o.stable})),
            ("drift job over the stable window", self._drift_baseline(marks)),
            ("shifted traffic with invalid requests", shifted),
            (
                "server errors and slow requests (local fault scenario)",
                traffic("faults", {"errors": o.errors, "slow": o.slow}),
            ),
            ("export the traffic to the lake (creditwatch lake export)", self._export(tallies)),
            ("drift job over the shifted window", self._drift_shifted(marks)),
            ("labelled history: backdated traffic, outcomes through /outcomes", self._history),
            ("the labelled history to the lake (creditwatch lake export --backfill)", self._backfill),
            ("quality job over the cohort before the change", self._quality("before_change")),
            ("quality job over the concept-drift cohort", self._quality("after_change")),
            ("report history saved beside the report (creditwatch report index)", self._index),
            ("alerts job (error rate, latency, drift note, quality alert)", self._alerts),
            ("alerts job again (no repeat)", self._alerts_again),
            *(Loop(self).steps() if o.loop else []),
            ("referred applications, decided by a reviewer (creditwatch review decide)", lambda: review_step(self)),
        ]
        for name, action in plan:
            # A failed step stops the demo: the steps after it would only fail for want of what it makes.
            if not self.step(name, action):
                break
        self._summarise_traffic(tallies)
        self.result.slack_messages = self._slack_messages()
        return self.result

    def _drift_baseline(self, marks: dict[str, datetime]) -> Callable[[], str]:
        def go() -> str:
            if "stable" not in marks:
                raise StepFailed("no stable traffic to analyse")
            summary = self.invoke("DriftFunction", {**_window_event(marks["t0"], marks["stable"]), "notify": False})
            self.result.drift_baseline = summary
            if summary["status"] != "ok":
                raise StepFailed(f"status {summary['status']}: {summary['message']}")
            if summary["dataset_drift"]:
                raise StepFailed(f"traffic drawn like the reference was judged drifted: {summary['message']}")
            return f"{summary['message']}; {_read_by(summary)}"

        return go

    def _drift_shifted(self, marks: dict[str, datetime]) -> Callable[[], str]:
        def go() -> str:
            if "drift" not in marks:
                raise StepFailed("no shifted traffic to analyse")
            summary = self.invoke("DriftFunction", _window_event(marks["t1"], marks.get("faults", marks["drift"])))
            self.result.drift = summary
            if summary["status"] != "ok" or not summary["dataset_drift"]:
                raise StepFailed(f"shifted traffic not judged drifted: {summary['message']}")
            self.result.report_path = str(self._copy_report(summary))
            return f"{summary['message']}; {_read_by(summary)}"

        return go

    def _export(self, tallies: dict[str, Tally]) -> Callable[[], str]:
        def go() -> str:
            result = lake.exporter(self.endpoint).export(2)
            _, rows = lake.window(self.endpoint).query(
                "SELECT decision, count(*) AS n FROM predictions WHERE decision IS NOT NULL GROUP BY 1 ORDER BY 1"
            )
            decided = {str(d): int(n) for d, n in rows}
            predictions = sum(sum(t.decisions.values()) for t in tallies.values())
            self.result.lake = {"records": result.rows, "decisions": decided, "bucket": result.bucket}
            if sum(decided.values()) != predictions:
                raise StepFailed(f"the lake holds {sum(decided.values())} decisions, the traffic made {predictions}")
            return f"{result.rows} records in {len(result.hours)} hour object(s); decisions {decided}"

        return go

    def _history(self) -> str:
        from creditwatch.labelled_history import HistoryPlan, run_history
        from creditwatch.simulate import outcome_poster

        o = self.options
        plan = HistoryPlan(
            scenario="concept-drift",
            days=o.history_days,
            per_day=o.history_per_day,
            change_days_ago=o.history_change_days_ago,
            seed=o.seed,
        )
        result = run_history(plan, self.endpoint, outcome_poster(self.endpoint)).as_dict()
        self.result.history = result
        posted = result["outcomes"]["by_status"]
        if posted.get("recorded", 0) + posted.get("unchanged", 0) != result["outcomes"]["posted"]:
            raise StepFailed(f"outcomes not all recorded: {posted}")
        if result["outcomes"]["population"] != "approved":
            raise StepFailed(f"outcomes simulated for {result['outcomes']['population']}, not approved applicants")
        return (
            f"{result['records']} records over {result['days']} days, {result['outcomes']['posted']} outcomes "
            f"recorded (approved applicants only: {result['outcomes']['refused_no_loan']} refused had no loan); "
            f"{result['truth']['change']} from {result['change_at']}"
        )

    def _backfill(self) -> str:
        """The cohorts' days into the lake, and the hours the outcomes were recorded in: the quality job reads there."""
        window = self.result.history.get("window")
        if not window:
            raise StepFailed("no labelled history to export")
        start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
        done = lake.backfill(self.endpoint, start, end - timedelta(days=self.options.history_judged_days_ago))
        recent = lake.exporter(self.endpoint).export(2)
        outcomes = done.outcome_rows + recent.outcome_rows
        self.result.lake["history"] = {"records": done.rows, "outcomes": outcomes, "days": done.days}
        return f"{done.rows} records over {done.days} days ({done.start:%Y-%m-%d} on); {outcomes} outcomes"

    def _quality(self, period: str) -> Callable[[], str]:
        def go() -> str:
            cohort = self.result.history.get("periods", {}).get(period)
            if not cohort:
                raise StepFailed("no labelled history to judge")
            judged = max(cohort["days_ago_to"], self.options.history_judged_days_ago * (period == "after_change"))
            event = {"days_ago_from": cohort["days_ago_from"], "days_ago_to": judged}
            # The lake engine: the cohorts' days are in the lake (not the span up to today the watermark covers).
            summary = self.invoke("QualityFunction", event, {"ANALYTICS_ENGINE": "lake"})
            expected = "ok" if period == "before_change" else "degraded"
            if period == "before_change":
                self.result.quality_stable = summary
            else:
                self.result.quality_drifted = summary
            verdict, population, said = summary.get("verdict"), summary.get("population") or {}, quality_said(summary)
            if population.get("name") != "booked_loans":
                raise StepFailed(f"the realized figures cover {population.get('name')}, not booked loans: {said}")
            if verdict != expected:
                raise StepFailed(f"expected {expected}, got {said} ({'; '.join(summary.get('reasons') or [])})")
            if summary.get("engine") != "lake":
                raise StepFailed(f"the cohort was read by {summary.get('engine')}, not from the lake: {said}")
            return f"{said}, read from the lake"

        return go

    def _copy_report(self, summary: dict[str, Any]) -> Path:
        s3 = stack.boto_client("s3", self.endpoint)
        return reports.download(s3, self.template.ref("ReportsBucket"), summary, self.options.reports_dir)

    def _index(self) -> str:
        """The history's page beside the report: every run listed (drift and quality), each linked to its local copy."""
        s3 = stack.boto_client("s3", self.endpoint)
        saved = reports.save_index(
            s3,
            self.template.ref("ReportsBucket"),
            self.options.reports_dir / "index.html",
            registry_bucket=self.template.ref("ModelRegistryBucket"),
        )
        runs = sum(1 for r in (self.result.drift_baseline, self.result.drift) if r.get("report_id"))
        runs += sum(1 for r in (self.result.quality_stable, self.result.quality_drifted) if r.get("report_id"))
        if saved.entries < runs:
            raise StepFailed(f"the report history lists {saved.entries} report(s), not the {runs} runs")
        self.result.index_path = str(saved.path)
        return f"{saved.entries} report(s), newest first, with the trend charts: {saved.path}"

    def _alerts(self) -> str:
        result = self.invoke("AlertsFunction", {"source": "creditwatch.demo"})
        self.result.alerts = result
        posted = [p["kind"] for p in result.get("posted", [])]
        firing = [c["key"] for c in result["conditions"] if c["firing"]]
        if "error_rate" not in firing:
            raise StepFailed(f"the error rate did not breach its threshold: {result['stats']}")
        if not any(k.startswith("drift") for k in posted):
            raise StepFailed(f"the drift notification was not posted (posted: {posted})")
        if posted.count("quality") != 1:
            raise StepFailed(f"the quality alert was not posted once (posted: {posted})")
        return f"firing: {', '.join(firing)}; posted: {', '.join(posted)}"

    def _alerts_again(self) -> str:
        result = self.invoke("AlertsFunction", {"source": "creditwatch.demo"})
        posted = [p["kind"] for p in result.get("posted", [])]
        if posted:
            raise StepFailed(f"a second run posted again: {posted}")
        return "nothing posted while the conditions last"

    def _summarise_traffic(self, tallies: dict[str, Tally]) -> None:
        if "stable" not in tallies:
            return
        scored = [t for k, t in tallies.items() if k in ("stable", "drift")]
        decisions = sum((t.decisions for t in scored), start=tallies["stable"].decisions.__class__())
        latencies = [x for t in scored for x in t.latencies_ms]
        merged = Tally(decisions=decisions, latencies_ms=latencies)
        self.result.traffic = {
            "requests": sum(t.total for t in tallies.values()),
            "predictions": sum(decisions.values()),
            "approval_rate": merged.approval_rate(),
            "approval_rate_stable": tallies["stable"].approval_rate() if "stable" in tallies else None,
            "approval_rate_shifted": tallies["drift"].approval_rate() if "drift" in tallies else None,
            "handler_latency_ms": {
                "p50": merged.latency(50),
                "p95": merged.latency(95),
                "p99": merged.latency(99),
            },
            "by_phase": {k: t.as_dict() for k, t in tallies.items()},
            "drift_shift": self.options.shift.describe(),
        }

    def _slack_messages(self) -> list[dict[str, Any]]:
        from creditwatch.local.slack_sink import read_messages

        return read_messages(stack.state_dir() / "slack-messages.jsonl")


def demo_state_dir() -> Path:
    """The demo's own state folder, beside (never instead of) the user's stack's."""
    return STATE_DIR / "demo"


@dataclass
class DemoRun:
    """The demo's result and the stack it ran on, as it really is once the demo ends."""

    result: DemoResult
    endpoint: str
    stack_state: str  # "stopped" or "running", checked after the fact, never assumed
    state_dir: Path
    notes: list[str] = field(default_factory=list)


def run_demo(options: DemoOptions, keep: bool, progress: Callable[[str], None], port: int | None = None) -> DemoRun:
    """Run the demo on a stack of its own (own state folder, free port), then stop it unless kept.

    The user's stack, if one runs, is left alone and never counted: the demo's verdicts see only its
    own traffic. A stack an earlier `demo --keep` left running is the demo's own: it is replaced.
    """
    folder = demo_state_dir()
    notes: list[str] = []
    with stack.using_state_dir(folder):
        earlier = stack.load_state()
        if earlier is not None:
            stack.down()
            notes.append(f"stopped the demo stack an earlier `demo --keep` left on {earlier.endpoint}")
        preload("evidently", "evidently.presets")  # the first drift run imports it: overlap it with the start
        chosen = port or stack.free_port()
        sink = stack.free_port()
        progress(f"starting the demo's own local stack on 127.0.0.1:{chosen}")
        state = stack.up(port=chosen, sink_port=sink)  # PortTaken when --port is busy: the demo refuses
        try:
            result = Demo(state.endpoint, options, progress).run()
            # The demo's lake outlives its stack: `creditwatch lake query` reads this copy when no stack runs.
            shutil.rmtree(folder / lake.SAVED_LAKE, ignore_errors=True)
            lake.save(state.endpoint, folder)
        finally:
            if not keep:
                stack.down()
        running = stack.load_state()
    return DemoRun(result, state.endpoint, "running" if running else "stopped", folder, notes)


def summary_json(run: DemoRun) -> str:
    """The demo's result as JSON, with the stack it ran on and that stack's state at the end."""
    doc = run.result.as_dict()
    doc["stack"] = {"endpoint": run.endpoint, "state": run.stack_state, "state_dir": str(run.state_dir)}
    doc["notes"] = run.notes
    return json.dumps(doc, indent=2, default=str)
