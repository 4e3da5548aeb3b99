"""A labelled history for the local stack: days of backdated, scored traffic and outcomes from a known truth.

`creditwatch simulate --history DAYS --scenario stable|concept-drift|covariate-shift` writes what the
predict function would have logged over the DAYS whole UTC days before today, then posts the outcomes that
have "matured" by now through `POST /outcomes`. Nothing here reaches AWS: records go only to a stack on
this machine (`require_local`).

- **Applicants** are new ones made from the training applicants (the model's reference): each starts as
  a random training applicant and takes each feature, with probability RECOMBINE (0.35), from another
  random one. Every feature's distribution is then the training data's (the drift job's tests stay
  silent however long the window), most rows are new to the forest, so its probabilities on them are as
  honest as on validation data (approval ~24.5% against 24.3% on the holdout), and most of the relations
  between features survive. Resampling training rows as they are would flatter an overfit forest (AUC
  ~0.91 on them, and a confidence-based estimate that reads ~0.05 high); the 300 validation rows alone
  are too few: a week of traffic resampled from them fails 11 of 19 drift tests.
- **The ground truth** the simulator owns is P(bad | x) from a ridge logistic model fitted (Newton, numpy)
  on all 1,000 rows of the data, numerical features clipped to the data's range (the relation does not
  extrapolate), with a temperature and an offset solved against the served model on 4,000 applicants
  drawn as above (seed 0): on stable traffic the forest's expected realized AUC equals its validation
  AUC and the bad rate equals the data's (30%).
  Outcomes are Bernoulli draws from it (seeded).
- **Scenarios** change one thing from `change_days_ago` on: `concept-drift` inverts the effect of the
  checking account in the truth (inputs unchanged: input drift stays silent, the estimate cannot see it,
  realized AUC falls to ~0.57); `covariate-shift` moves the inputs (COVARIATE_SHIFT) with the truth
  unchanged. `stable` changes nothing.
- **Records** are built by the predict function's own code (validation model, scoring, contributions,
  `log_records(single=True)`) and written with the common LogWriter's batch path. They are marked as
  simulated by their request id, `simulated-history-<scenario>-<prediction id>` (LogRecord has no
  `simulated` field since issue 9; the model version stays the served one, which the jobs compare).
- **Ids** are UUIDv7 of the backdated time with seeded random bits: the same seed, scenario, days and
  rate on the same UTC day give the same records, so a rerun finds them written and only posts the
  outcomes that matured since (they answer `unchanged` for the rest).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditwatch.simulate import DriftShift, shift_application
from creditwatch_common.ids import iso_millis, iso_utc
from creditwatch_model import REFERENCE_FILE, CreditModel, model_dir

HISTORY_SCENARIOS = ("stable", "concept-drift", "covariate-shift")
REQUEST_ID_PREFIX = "simulated-history-"
DATA_CSV = Path(__file__).resolve().parents[2] / "data" / "german_credit.csv"
TARGET = "credit_risk"
# The feature whose effect on repayment the concept-drift scenario inverts (the truth's strongest).
CONCEPT_FEATURE = "status_of_existing_checking_account"
# How covariate-shift moves applicants: the `drift` scenario's recodes with milder numeric moves, so that
# enough applicants are still approved to judge the approved bad rate.
COVARIATE_SHIFT = DriftShift(amount_factor=1.5, duration_add=6, age_add=-5, recode_share=0.5)
# /outcomes takes up to this many items per request.
OUTCOME_BATCH = 1000
OUTCOME_ATTEMPTS = 3
DAY_MS = 86_400_000
RIDGE = 3.0
# Each feature of a simulated applicant comes from another training applicant with this probability.
RECOMBINE = 0.35
# Applicants the truth is calibrated on (drawn with seed 0, whatever the plan's seed).
CALIBRATION_SAMPLE = 4000


class HistoryError(Exception):
    """The local stack refused part of the history (records or outcomes); the message says which."""


# ---- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPlan:
    """What to simulate: how many days and applications, which scenario and when it starts, outcome timing."""

    scenario: str
    days: int
    per_day: int = 200
    # Days before the history's end at which the scenario's change starts (None: 2/3 of the way back).
    change_days_ago: int | None = None
    coverage: float = 0.85
    delay_days: tuple[int, int] = (30, 60)
    seed: int = 42

    def __post_init__(self) -> None:
        if self.scenario not in HISTORY_SCENARIOS:
            raise ValueError(f"unknown history scenario {self.scenario}: choose from {', '.join(HISTORY_SCENARIOS)}")
        if not 1 <= self.days <= 365:
            raise ValueError(f"--history takes 1 to 365 days, not {self.days}")
        if not 1 <= self.per_day <= 100_000:
            raise ValueError(f"--per-day takes 1 to 100000 applications, not {self.per_day}")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"--outcome-coverage is a share in (0, 1], not {self.coverage}")
        low, high = self.delay_days
        if not 0 <= low <= high <= 365:
            raise ValueError(f"--outcome-delay-days takes MIN..MAX days with 0 <= MIN <= MAX <= 365, not {low}..{high}")
        if self.scenario != "stable" and self.days < 2:
            raise ValueError(f"{self.scenario} needs --history 2 or more: a day before its change and one after")
        if self.change_days_ago is not None:
            if self.scenario == "stable":
                raise ValueError("--change-days-ago is for concept-drift and covariate-shift: stable changes nothing")
            if not 1 <= self.change_days_ago < self.days:
                raise ValueError(
                    f"--change-days-ago must be 1 to {self.days - 1} (inside the {self.days}-day history), "
                    f"not {self.change_days_ago}"
                )

    @property
    def change_ago(self) -> int | None:
        """Days before the end at which the change starts; None for stable."""
        if self.scenario == "stable":
            return None
        if self.change_days_ago is not None:
            return self.change_days_ago
        return max(1, min(self.days - 1, math.ceil(self.days * 2 / 3)))

    @property
    def total(self) -> int:
        """Applications in the history."""
        return self.days * self.per_day


def parse_delay(text: str) -> tuple[int, int]:
    """`30..60` (or `45`) as (30, 60) days; ValueError when it is neither."""
    parts = text.replace(" ", "").split("..")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--outcome-delay-days is MIN..MAX in whole days (e.g. 30..60), not {text!r}") from None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) != 2:
        raise ValueError(f"--outcome-delay-days is MIN..MAX in whole days (e.g. 30..60), not {text!r}")
    return values[0], values[1]


def history_end(now: datetime) -> datetime:
    """Where a history ends: today's 00:00 UTC (it fills whole UTC days before today)."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# ---- the population ------------------------------------------------------------------------------


def load_data(model: CreditModel, data_csv: Path = DATA_CSV) -> pd.DataFrame:
    """All rows of the data: the features as the API types them, and `credit_risk`."""
    data = pd.read_csv(data_csv, dtype={f.name: str for f in model.schema.features if f.is_categorical})
    for f in model.schema.features:
        if not f.is_categorical:
            data[f.name] = data[f.name].astype(int if f.dtype == "int" else float)
    return data[[*model.schema.names, TARGET]]


def load_reference(model: CreditModel, reference_csv: Path | None = None) -> pd.DataFrame:
    """The model's training applicants (its reference), typed as the API types them."""
    reference = pd.read_csv(
        reference_csv or model_dir() / REFERENCE_FILE,
        dtype={f.name: str for f in model.schema.features if f.is_categorical},
    )
    return reference[model.schema.names]


def recombine(
    base: Sequence[dict[str, Any]], n: int, rng: np.random.Generator, share: float = RECOMBINE
) -> list[dict[str, Any]]:
    """New applicants: each a random base one with every feature, with probability `share`, from another."""
    names = list(base[0])
    rows = rng.integers(0, len(base), size=n)
    donors = rng.integers(0, len(base), size=(n, len(names)))
    take = rng.random((n, len(names))) < share
    out = []
    for i in range(n):
        app = dict(base[int(rows[i])])
        for j in np.flatnonzero(take[i]):
            name = names[j]
            app[name] = base[int(donors[i, j])][name]
        out.append(app)
    return out


def applications(frame: pd.DataFrame, model: CreditModel) -> list[dict[str, Any]]:
    """Rows as the API takes them: snake_case names, ints, floats and code strings."""
    out = []
    for r in frame[model.schema.names].to_dict("records"):
        out.append(
            {
                f.name: str(r[f.name])
                if f.is_categorical
                else (int(r[f.name]) if f.dtype == "int" else float(r[f.name]))
                for f in model.schema.features
            }
        )
    return out


# ---- the ground truth ----------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Truth:
    """P(bad | x): a logistic model on clipped, standardised features, tempered and offset (see module doc)."""

    columns: tuple[tuple[str, str | None], ...]  # (feature, code) for a one-hot column, (feature, None) numeric
    weights: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    low: dict[str, float]
    high: dict[str, float]
    temperature: float = 1.0
    offset: float = 0.0
    # Features whose effect is inverted (concept drift); their columns' weights change sign.
    inverted: tuple[str, ...] = ()

    def design(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """The standardised design matrix of applications."""
        x = np.zeros((len(apps), len(self.columns)))
        for j, (name, code) in enumerate(self.columns):
            if code is None:
                values = np.array([float(a[name]) for a in apps])
                values = np.clip(values, self.low[name], self.high[name])
                x[:, j] = np.log(values) if name == "credit_amount" else values
            else:
                x[:, j] = [1.0 if a[name] == code else 0.0 for a in apps]
        return (x - self.mean) / self.scale

    def logit(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """The fitted logit of P(bad), before temperature and offset."""
        w = self.weights
        if self.inverted:
            flip = np.array([-1.0 if name in self.inverted else 1.0 for name, _ in self.columns])
            w = w * flip
        return self.design(apps) @ w + self.intercept

    def bad_probability(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """P(bad | x) for each application."""
        return _sigmoid(self.logit(apps) / self.temperature + self.offset)


def fit_truth(frame: pd.DataFrame, model: CreditModel, ridge: float = RIDGE) -> Truth:
    """Ridge logistic regression of bad credit on all rows (Newton's method: deterministic, no sklearn)."""
    columns: list[tuple[str, str | None]] = []
    for f in model.schema.features:
        if f.is_categorical:
            columns.extend((f.name, code) for code in list(f.codes)[1:])  # the first code is the baseline
        else:
            columns.append((f.name, None))
    numeric = [f.name for f in model.schema.features if not f.is_categorical]
    low = {n: float(frame[n].min()) for n in numeric}
    high = {n: float(frame[n].max()) for n in numeric}
    apps = applications(frame, model)
    raw = Truth(tuple(columns), np.zeros(len(columns)), 0.0, np.zeros(len(columns)), np.ones(len(columns)), low, high)
    x = raw.design(apps)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # codes that never occur (A47, A95)
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    y = (frame[TARGET].to_numpy() == 0).astype(float)
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], ridge)
    penalty[0] = 0.0
    for _ in range(50):
        p = _sigmoid(z @ beta)
        grad = z.T @ (p - y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return replace(raw, weights=beta[1:], intercept=float(beta[0]), mean=mean, scale=scale)


def expected_auc(p_good: np.ndarray, p_bad: np.ndarray) -> float:
    """The ROC AUC that P(good) scores reach on outcomes drawn from P(bad), applicants drawn uniformly (exact)."""
    order = np.argsort(p_good, kind="stable")
    s, good, bad = p_good[order], 1.0 - p_bad[order], p_bad[order]
    unique, start = np.unique(s, return_index=True)
    bad_per = np.add.reduceat(bad, start)
    good_per = np.add.reduceat(good, start)
    below = np.cumsum(bad_per) - bad_per
    num = float(np.sum(good_per * (below + 0.5 * bad_per)))
    den = float(good.sum() * bad.sum())
    del unique
    return num / den if den else math.nan


def _offset_for(truth: Truth, logit: np.ndarray, bad_rate: float) -> float:
    """The offset that gives the mean P(bad) `bad_rate` at the truth's temperature (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if float(_sigmoid(logit / truth.temperature + mid).mean()) > bad_rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def calibrate(
    truth: Truth, p_good: np.ndarray, apps: Sequence[dict[str, Any]], target_auc: float, bad_rate: float
) -> Truth:
    """The temperature and offset at which the scores' expected AUC is `target_auc` and the bad rate `bad_rate`."""
    logit = truth.logit(apps)

    def auc_at(t: float) -> tuple[float, Truth]:
        tempered = replace(truth, temperature=t)
        tempered = replace(tempered, offset=_offset_for(tempered, logit, bad_rate))
        return expected_auc(p_good, tempered.bad_probability(apps)), tempered

    lo, hi = 0.1, 10.0  # a sharper truth (small t) separates better: AUC falls as t grows
    best = truth
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        auc, best = auc_at(mid)
        if auc > target_auc:
            lo = mid
        else:
            hi = mid
    return best


def concept_truth(truth: Truth, apps: Sequence[dict[str, Any]], bad_rate: float) -> Truth:
    """The truth after the concept change: CONCEPT_FEATURE's effect inverted, the same bad rate."""
    changed = replace(truth, inverted=(CONCEPT_FEATURE,))
    return replace(changed, offset=_offset_for(changed, changed.logit(apps), bad_rate))


def validation_auc(model: CreditModel) -> float:
    """The model's validation AUC from its metadata (`metrics.validation.auc`, else the holdout's)."""
    metrics = model.metadata.get("metrics", {})
    validation = metrics.get("validation", {}).get("auc")
    if isinstance(validation, dict) and validation.get("value") is not None:
        return float(validation["value"])
    return float(metrics["holdout"]["roc_auc"])


@dataclass(frozen=True)
class World:
    """Everything the generator draws from: the model, the training applicants and the truth before and after."""

    model: CreditModel
    base: list[dict[str, Any]]
    truth: Truth
    changed_truth: Truth
    target_auc: float
    bad_rate: float


def build_world(model: CreditModel, data_csv: Path = DATA_CSV, reference_csv: Path | None = None) -> World:
    """Fit the truth on the data and calibrate it for the served model on applicants drawn as the history draws them."""
    data = load_data(model, data_csv)
    base = applications(load_reference(model, reference_csv), model)
    sample = recombine(base, CALIBRATION_SAMPLE, np.random.default_rng(0))
    bad_rate = float((data[TARGET] == 0).mean())
    target = validation_auc(model)
    truth = calibrate(fit_truth(data, model), model.predict_good(sample), sample, target, bad_rate)
    return World(model, base, truth, concept_truth(truth, sample, bad_rate), target, bad_rate)


# ---- the history ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Simulated:
    """One simulated application: when, what was asked, whether the change applied, and its outcome."""

    prediction_id: str
    at_ms: int
    features: dict[str, Any]
    changed: bool
    p_bad: float
    outcome: str  # "good" | "bad": what happened, whether or not anyone reports it
    observed_ms: int  # when the outcome is observed
    reported: bool  # False: never reported (the coverage the lender gets)
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
    reported = rng.random(n) < plan.coverage
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
    pos, neg = int(good.sum()), int(len(good) - good.sum())
    if not pos or not neg:
        return None
    ranks = pd.Series(p_good).rank(method="average").to_numpy()
    return float((ranks[good == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


# ---- running it on the local stack --------------------------------------------------------------


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
    outcomes_never: int = 0  # never reported (coverage)
    outcome_statuses: Counter[str] = field(default_factory=Counter)
    outcome_http: Counter[int] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    periods: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain summary (what `simulate --history --json` prints)."""
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
                "coverage": plan.coverage,
                "delay_days": list(plan.delay_days),
                "posted": self.outcomes_due,
                "not_yet_observed": self.outcomes_pending,
                "never_reported": self.outcomes_never,
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
            "labelled": int(labelled.sum()),
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
