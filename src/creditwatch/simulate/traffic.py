"""The simulated traffic: scenarios and their counts, population shifts, and the requests they make."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

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
