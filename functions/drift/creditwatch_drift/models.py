"""Payloads of the drift function: its event, its summary and its result."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field, model_validator

from creditwatch_analytics.jobs import JobEvent, aware_and_ordered, both_or_neither, span_window

# The summary's models live beside the history that reads them; imported from here as before.
from creditwatch_analytics.summaries import (
    AttributeFairness,
    AttributionDrift,
    Band,
    ColumnStability,
    DriftSummary,
    Fairness,
    FeatureAttribution,
    FeatureDrift,
    GroupRate,
    OutputDrift,
    Parity,
    ReasonShare,
    Stability,
    Status,
)

__all__ = [
    "AttributeFairness",
    "AttributionDrift",
    "Band",
    "ColumnStability",
    "DriftEvent",
    "DriftSummary",
    "Fairness",
    "FeatureAttribution",
    "FeatureDrift",
    "GroupRate",
    "OutputDrift",
    "Parity",
    "ReasonShare",
    "Stability",
    "Status",
]


class DriftEvent(JobEvent):
    """What to analyse. Scheduled runs send nothing but a source; on demand, a window."""

    days: float | None = Field(None, gt=0, le=366, description="Window of this many days ending now")
    hours: int | None = Field(None, gt=0, le=8784, description="Window of this many hours ending now")
    start: datetime | None = None
    end: datetime | None = None
    threshold: float | None = Field(None, gt=0, le=1, description="Dataset drift threshold (drift share)")
    notify: bool = True

    @model_validator(mode="after")
    def _window(self) -> DriftEvent:
        both_or_neither(self.start, self.end)
        aware_and_ordered(self.start, self.end, "2026-11-22T00:00:00Z")
        if self.start and (self.days is not None or self.hours is not None):
            raise ValueError("give days or hours, or start and end, not both")
        if self.days is not None and self.hours is not None:
            raise ValueError("give days or hours, not both")
        return self

    def window(self, default_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) window; a days or hours window ends at the next full hour (re-runs share keys)."""
        span = timedelta(hours=self.hours) if self.hours else timedelta(days=self.days or default_days)
        return span_window(self.start, self.end, span, now)
