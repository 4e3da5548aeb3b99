"""Payloads of the quality function: its event and its summary (the contract the index and the demo read)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pydantic import Field, model_validator

from creditwatch_analytics.jobs import JobEvent, aware_and_ordered, both_or_neither

# The summary's models live beside the history that reads them; imported from here as before.
from creditwatch_analytics.summaries import (
    CalibrationBand,
    Confusion,
    Figure,
    GroupOutcome,
    OutcomeFairness,
    Population,
    QualitySummary,
    RealizedPopulation,
    Thresholds,
    Verdict,
)

__all__ = [
    "CalibrationBand",
    "Confusion",
    "Figure",
    "GroupOutcome",
    "OutcomeFairness",
    "Population",
    "QualityEvent",
    "QualitySummary",
    "RealizedPopulation",
    "Thresholds",
    "Verdict",
]


class QualityEvent(JobEvent):
    """Which cohort to judge. Scheduled runs send a source only; on demand, prediction times or days ago."""

    start: datetime | None = Field(None, description="First prediction time of the cohort (inclusive)")
    end: datetime | None = Field(None, description="End of the cohort's prediction times (exclusive)")
    days_ago_from: int | None = Field(None, ge=1, le=760, description="Cohort starts this many days ago (00:00 UTC)")
    days_ago_to: int | None = Field(None, ge=0, le=759, description="Cohort ends this many days ago (00:00 UTC)")
    notify: bool = True

    @model_validator(mode="after")
    def _cohort(self) -> QualityEvent:
        both_or_neither(self.start, self.end)
        if (self.days_ago_from is None) != (self.days_ago_to is None):
            raise ValueError("give both days_ago_from and days_ago_to, or neither")
        if self.start is not None and self.days_ago_from is not None:
            raise ValueError("give start and end, or days_ago_from and days_ago_to, not both")
        aware_and_ordered(self.start, self.end, "2026-08-01T00:00:00Z")
        if self.days_ago_from is not None and self.days_ago_to is not None and self.days_ago_from <= self.days_ago_to:
            raise ValueError("days_ago_from must be larger than days_ago_to (the cohort starts further back)")
        return self

    def cohort(self, days_from: int, days_to: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) of prediction times; days-ago cohorts fall on UTC midnights (a day's reruns share it)."""
        if self.start and self.end:
            return self.start.astimezone(UTC), self.end.astimezone(UTC)
        today = datetime.combine((now or datetime.now(UTC)).astimezone(UTC).date(), time(0), tzinfo=UTC)
        frm = self.days_ago_from if self.days_ago_from is not None else days_from
        to = self.days_ago_to if self.days_ago_to is not None else days_to
        return today - timedelta(days=frm), today - timedelta(days=to)
