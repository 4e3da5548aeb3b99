"""The history's applications, outcomes and log records, drawn from the world with seeded randomness."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from creditwatch.labelled_history.plan import DAY_MS, HISTORY_SCENARIOS, REQUEST_ID_PREFIX, HistoryPlan
from creditwatch.labelled_history.truth import World, recombine
from creditwatch.simulate import DriftShift, shift_application
from creditwatch_common.ids import iso_millis
from creditwatch_model import CreditModel

# How covariate-shift moves applicants: the `drift` scenario's recodes with milder numeric moves, so that
# enough applicants are still approved to judge the approved bad rate.
COVARIATE_SHIFT = DriftShift(amount_factor=1.5, duration_add=6, age_add=-5, recode_share=0.5)


@dataclass(frozen=True, slots=True)
class Simulated:
    """One simulated application: when, what was asked, whether the change applied, and its outcome."""

    prediction_id: str
    at_ms: int
    features: dict[str, Any]
    changed: bool
    p_bad: float
    outcome: str  # "good" | "bad": what happened (or would have), whether or not anyone reports it
    observed_ms: int  # when the outcome is observed
    # False: never reported (a refused applicant under plan.outcomes "approved", or the coverage the lender gets).
    reported: bool
    # The served model approved it (a booked loan): P(good) >= threshold, as /predict decides.
    approved: bool
    latency_ms: float


def seeded_uuid7(ms: int, rand: bytes) -> str:
    """A UUIDv7 of millisecond `ms` with the given 10 random bytes (as creditwatch_common.ids.uuid7 lays it out)."""
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand[:10], "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate(plan: HistoryPlan, world: World, end: datetime) -> list[Simulated]:
    """The history's applications in time order; the same plan, world and end give the same history."""
    rng = np.random.default_rng([plan.seed, HISTORY_SCENARIOS.index(plan.scenario), plan.days, plan.per_day])
    end_ms = int(end.timestamp() * 1000)
    start_ms = end_ms - plan.days * DAY_MS
    n = plan.total
    day = np.repeat(np.arange(plan.days), plan.per_day)
    at = np.sort(start_ms + day * DAY_MS + rng.integers(0, DAY_MS, size=n))
    drawn = recombine(world.base, n, rng)
    change_ago = plan.change_ago
    change_ms = end_ms - change_ago * DAY_MS if change_ago is not None else None
    changed = at >= change_ms if change_ms is not None else np.zeros(n, dtype=bool)
    shift_draws = rng.random((n, len(COVARIATE_SHIFT.recodes)))
    apps: list[dict[str, Any]] = []
    for i in range(n):
        app = drawn[i]
        if plan.scenario == "covariate-shift" and changed[i]:
            app = shift_application(app, COVARIATE_SHIFT, world.model, shift_draws[i])
        apps.append(app)
    p_bad = np.empty(n)
    before = ~changed if plan.scenario == "concept-drift" else np.ones(n, dtype=bool)
    for mask, truth in ((before, world.truth), (~before, world.changed_truth)):
        idx = np.flatnonzero(mask)
        if len(idx):
            p_bad[idx] = truth.bad_probability([apps[i] for i in idx])
    bad = rng.random(n) < p_bad
    low, high = plan.delay_days
    observed = at + (rng.uniform(low, high, size=n) * DAY_MS).astype(np.int64)
    # The served model's decisions: only approved applicants get a loan whose repayment a lender observes.
    approved = world.model.predict_good(apps) >= world.model.threshold
    reported = rng.random(n) < plan.coverage
    if plan.outcomes == "approved":
        reported &= approved
    # In-process /predict latencies: a lognormal around half a millisecond.
    latency = np.round(rng.lognormal(math.log(0.5), 0.35, size=n), 3)
    tails = rng.bytes(10 * n)
    return [
        Simulated(
            prediction_id=seeded_uuid7(int(at[i]), tails[10 * i : 10 * i + 10]),
            at_ms=int(at[i]),
            features=apps[i],
            changed=bool(changed[i]),
            p_bad=float(p_bad[i]),
            outcome="bad" if bad[i] else "good",
            observed_ms=int(observed[i]),
            reported=bool(reported[i]),
            latency_ms=float(latency[i]),
            approved=bool(approved[i]),
        )
        for i in range(n)
    ]


def request_id(scenario: str, prediction_id: str) -> str:
    """The request id that marks a history record as simulated."""
    return f"{REQUEST_ID_PREFIX}{scenario}-{prediction_id}"


def build_records(model: CreditModel, scenario: str, apps: Sequence[Simulated], chunk: int = 2000) -> Iterator[Any]:
    """The log records /predict would have written for these applications (its own code builds them)."""
    from creditwatch_predict.schemas import build_application_model
    from creditwatch_predict.service import ScoredApplication, explain_scored, log_records

    application_model = build_application_model(model.schema)
    for begin in range(0, len(apps), chunk):
        part = apps[begin : begin + chunk]
        features = [application_model.model_validate(a.features).model_dump() for a in part]
        scores = model.score(features)
        scored = [
            ScoredApplication(f, s, a.prediction_id, iso_millis(a.at_ms))
            for f, s, a in zip(features, scores, part, strict=True)
        ]
        explain_scored(model, scored)
        for app, s in zip(part, scored, strict=True):
            yield from log_records(
                request_id=request_id(scenario, app.prediction_id),
                route="/predict",
                method="POST",
                status=200,
                latency_ms=app.latency_ms,
                model_version=model.version,
                scored=[s],
                single=True,
                error_class=None,
                error_detail=None,
            ).records


def due_outcomes(apps: Sequence[Simulated], now: datetime) -> list[dict[str, Any]]:
    """The /outcomes items observed by `now` (reported ones only), observed_at backdated."""
    now_ms = int(now.timestamp() * 1000)
    return [
        {"prediction_id": a.prediction_id, "outcome": a.outcome, "observed_at": iso_millis(a.observed_ms)}
        for a in apps
        if a.reported and a.observed_ms <= now_ms
    ]


def sample_auc(p_good: np.ndarray, good: np.ndarray) -> float | None:
    """ROC AUC of scores against 0/1 outcomes (ties count half); None without both outcomes."""
    if len(np.unique(good)) < 2:
        return None
    return float(roc_auc_score(good, p_good))
