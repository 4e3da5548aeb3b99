"""What a labelled history simulates: its plan (scenario, days, rates, outcome timing) and where it ends."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

HISTORY_SCENARIOS = ("stable", "concept-drift", "covariate-shift")
# Whose outcomes a lender sees: `approved` (a refused applicant gets no loan, so no repayment to observe) or
# `all` (a lender with bureau data on declined applicants).
OUTCOME_POPULATIONS = ("approved", "all")
REQUEST_ID_PREFIX = "simulated-history-"
DAY_MS = 86_400_000


class HistoryError(Exception):
    """The local stack refused part of the history (records or outcomes); the message says which."""


@dataclass(frozen=True)
class HistoryPlan:
    """What to simulate: how many days and applications, which scenario and when it starts, outcome timing."""

    scenario: str
    days: int
    per_day: int = 200
    # Days before the history's end at which the scenario's change starts (None: 2/3 of the way back).
    change_days_ago: int | None = None
    # Share of the applicants with an outcome to observe (see `outcomes`) whose outcome is ever reported.
    coverage: float = 0.85
    delay_days: tuple[int, int] = (30, 60)
    seed: int = 42
    outcomes: str = "approved"

    def __post_init__(self) -> None:
        if self.scenario not in HISTORY_SCENARIOS:
            raise ValueError(f"unknown history scenario {self.scenario}: choose from {', '.join(HISTORY_SCENARIOS)}")
        if not 1 <= self.days <= 365:
            raise ValueError(f"simulate history takes 1 to 365 days, not {self.days}")
        if not 1 <= self.per_day <= 100_000:
            raise ValueError(f"--per-day takes 1 to 100000 applications, not {self.per_day}")
        if self.outcomes not in OUTCOME_POPULATIONS:
            raise ValueError(f"--outcomes is approved or all, not {self.outcomes!r}")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"--outcome-coverage is a share in (0, 1], not {self.coverage}")
        low, high = self.delay_days
        if not 0 <= low <= high <= 365:
            raise ValueError(f"--outcome-delay-days takes MIN..MAX days with 0 <= MIN <= MAX <= 365, not {low}..{high}")
        if self.scenario != "stable" and self.days < 2:
            raise ValueError(f"{self.scenario} needs simulate history 2 or more: a day before its change and one after")
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
