"""Running a labelled history on the local stack: write its records, post its matured outcomes, sum it up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from creditwatch.labelled_history.generate import (
    COVARIATE_SHIFT,
    Simulated,
    build_records,
    due_outcomes,
    generate,
    sample_auc,
)
from creditwatch.labelled_history.plan import REQUEST_ID_PREFIX, HistoryError, HistoryPlan, history_end
from creditwatch.labelled_history.truth import CONCEPT_FEATURE, RECOMBINE, build_world
from creditwatch_common.ids import iso_utc

# /outcomes takes up to this many items per request.
OUTCOME_BATCH = 1000
OUTCOME_ATTEMPTS = 3


def require_local(endpoint: str) -> None:
    """Refuse any endpoint that is not on this machine: backdated traffic belongs on the local stack only."""
    from urllib.parse import urlparse

    host = urlparse(endpoint).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise ValueError(f"simulated history is written only to a local stack, not {endpoint}")


Poster = Callable[[list[dict[str, Any]]], tuple[int, dict[str, Any]]]


@dataclass
class HistoryResult:
    """What a history run did, for its summary."""

    plan: HistoryPlan
    start: datetime
    end: datetime
    change_at: datetime | None
    records_written: int = 0
    records_existing: int = 0
    outcomes_due: int = 0
    outcomes_pending: int = 0  # reported later than now
    outcomes_never: int = 0  # never reported (refused applicants under "approved", and coverage)
    outcomes_refused: int = 0  # of them, refused applicants: no loan, so no repayment to observe
    outcome_statuses: Counter[str] = field(default_factory=Counter)
    outcome_http: Counter[int] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    periods: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain summary (what `simulate history --json` prints)."""
        plan = self.plan
        return {
            "scenario": plan.scenario,
            "days": plan.days,
            "per_day": plan.per_day,
            "seed": plan.seed,
            "window": {"start": iso_utc(self.start), "end": iso_utc(self.end)},
            "change_at": iso_utc(self.change_at) if self.change_at else None,
            "records": plan.total,
            "records_written": self.records_written,
            "records_existing": self.records_existing,
            "request_id_prefix": f"{REQUEST_ID_PREFIX}{plan.scenario}-",
            "decisions": dict(self.decisions),
            "outcomes": {
                # Whose outcomes exist: approved applicants only (booked loans), or all (bureau data).
                "population": plan.outcomes,
                "coverage": plan.coverage,
                "delay_days": list(plan.delay_days),
                "posted": self.outcomes_due,
                "not_yet_observed": self.outcomes_pending,
                "never_reported": self.outcomes_never,
                "refused_no_loan": self.outcomes_refused,
                "by_status": dict(self.outcome_statuses),
                "http": {str(k): v for k, v in sorted(self.outcome_http.items())},
            },
            "periods": self.periods,
            "truth": self.truth,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def _periods(result: HistoryResult, apps: Sequence[Simulated], p_good: np.ndarray, now: datetime) -> None:
    """Realized figures of the posted outcomes before and after the change: the cohorts to give the quality job.

    Each is whole UTC days, as the quality job's `days_ago_from`/`days_ago_to` cohorts (0 = today 00:00 UTC).
    """
    now_ms = int(now.timestamp() * 1000)
    posted = np.array([a.reported and a.observed_ms <= now_ms for a in apps])
    approved = np.array([a.approved for a in apps])
    good = np.array([a.outcome == "good" for a in apps], dtype=float)
    at = np.array([a.at_ms for a in apps])
    days, change = result.plan.days, result.plan.change_ago
    parts = {"all": (days, 0)} if change is None else {"before_change": (days, change), "after_change": (change, 0)}
    for name, (days_from, days_to) in parts.items():
        start, stop = result.end - timedelta(days=days_from), result.end - timedelta(days=days_to)
        mask = (at >= int(start.timestamp() * 1000)) & (at < int(stop.timestamp() * 1000))
        labelled = mask & posted
        auc = sample_auc(p_good[labelled], good[labelled]) if labelled.any() else None
        result.periods[name] = {
            "start": iso_utc(start),
            "end": iso_utc(stop),
            "days_ago_from": days_from,
            "days_ago_to": days_to,
            "records": int(mask.sum()),
            "approved": int((mask & approved).sum()),
            "labelled": int(labelled.sum()),
            "labelled_refused": int((labelled & ~approved).sum()),
            "bad_rate": round(float(1 - good[labelled].mean()), 4) if labelled.any() else None,
            "realized_auc": None if auc is None else round(auc, 4),
        }


def run_history(
    plan: HistoryPlan,
    endpoint: str,
    poster: Poster,
    now: datetime | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> HistoryResult:
    """Generate the history, write its records to the local log and post its matured outcomes."""
    import time

    from creditwatch.local.stack import boto_client
    from creditwatch.local.template import Template
    from creditwatch_common.log import LogWriter
    from creditwatch_common.log.keys import key_attributes, keys_for
    from creditwatch_model import load_model

    require_local(endpoint)
    now = now or datetime.now(UTC)
    clock = time.perf_counter()
    model = load_model()
    world = build_world(model)
    end = history_end(now)
    apps = generate(plan, world, end)
    change_ago = plan.change_ago
    result = HistoryResult(
        plan,
        start=end - timedelta(days=plan.days),
        end=end,
        change_at=end - timedelta(days=change_ago) if change_ago is not None else None,
    )
    result.truth = {
        "model": "ridge logistic P(bad | x) on data/german_credit.csv, numerical features clipped to its range",
        "temperature": round(world.truth.temperature, 4),
        "target_auc": world.target_auc,
        "bad_rate": round(world.bad_rate, 4),
        "applicants": f"the {len(world.base)} training applicants, each feature from another one with p {RECOMBINE}",
        "change": {
            "stable": None,
            "concept-drift": f"the effect of {CONCEPT_FEATURE} on repayment inverted (inputs unchanged)",
            "covariate-shift": f"inputs moved: {COVARIATE_SHIFT.describe()} (truth unchanged)",
        }[plan.scenario],
    }
    result.seconds["generate"] = time.perf_counter() - clock

    template = Template(endpoint=endpoint)
    dynamodb = boto_client("dynamodb", endpoint)
    table = template.ref("PredictionsTable")
    shards = int(template.parameters["LogShards"])
    writer = LogWriter(
        dynamodb=dynamodb, table=table, shards=shards, ttl_days=int(template.parameters.get("PredictionTtlDays", 90))
    )
    # A rerun of the same plan on the same day has the same ids: when its first and last records are
    # there, the history is written already and only the outcomes that matured since are new.
    probes = [apps[0].prediction_id, apps[-1].prediction_id]
    written = all(
        "Item" in dynamodb.get_item(TableName=table, Key=key_attributes(keys_for(p, shards)), ProjectionExpression="pk")
        for p in probes
    )
    clock = time.perf_counter()
    p_good = np.empty(len(apps))
    batch: list[Any] = []
    for i, record in enumerate(build_records(model, plan.scenario, apps)):
        p_good[i] = record.probability_good_credit
        result.decisions[record.decision] += 1
        if (record.decision == "approve") != apps[i].approved:
            # Outcomes are drawn for the generator's decisions: they must be the ones /predict logs.
            raise HistoryError(f"{record.prediction_id}: logged {record.decision}, the generator decided otherwise")
        if written:
            continue
        batch.append(record)
        if len(batch) >= 1000:
            _write(writer, batch, result, progress)
            batch = []
    if batch:
        _write(writer, batch, result, progress)
    if written:
        result.records_existing = len(apps)
    result.seconds["records"] = time.perf_counter() - clock

    clock = time.perf_counter()
    due = due_outcomes(apps, now)
    result.outcomes_due = len(due)
    result.outcomes_never = sum(not a.reported for a in apps)
    result.outcomes_refused = sum(not a.approved for a in apps) if plan.outcomes == "approved" else 0
    result.outcomes_pending = sum(a.reported for a in apps) - len(due)
    for begin in range(0, len(due), OUTCOME_BATCH):
        chunk = due[begin : begin + OUTCOME_BATCH]
        # A 503 means some outcomes could not be stored in the request's time: the route asks for the
        # same request again (those stored meanwhile answer `unchanged`).
        for _ in range(OUTCOME_ATTEMPTS):
            status, body = poster(chunk)
            result.outcome_http[status] += len(chunk)
            if status != 503:
                break
        if status != 200:
            raise HistoryError(
                f"POST /outcomes answered {status} after {begin} of {len(due)} outcomes were posted: "
                f"{str(body)[:300]}; rerun the same command: stored outcomes answer unchanged"
            )
        result.outcome_statuses.update(body.get("counts", {}))
        if progress:
            progress("outcomes", len(chunk))
    result.seconds["outcomes"] = time.perf_counter() - clock
    _periods(result, apps, p_good, now)
    return result


def _write(writer: Any, batch: list[Any], result: HistoryResult, progress: Callable[[str, int], None] | None) -> None:
    outcome = writer.write(batch)
    if outcome.spilled or outcome.logged_only or outcome.written != len(batch):
        raise HistoryError(f"the local log refused records ({outcome.errors[:5]}); is the stack up? rerun the command")
    result.records_written += outcome.written
    if progress:
        progress("records", len(batch))
