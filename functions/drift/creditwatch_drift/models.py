"""Payloads of the drift function: its event, its summary and its result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class DriftEvent(BaseModel):
    """What to analyse. Scheduled runs send nothing but a source; on demand, a window."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None
    days: float | None = Field(None, gt=0, le=366, description="Window of this many days ending now")
    hours: int | None = Field(None, gt=0, le=8784, description="Window of this many hours ending now")
    start: datetime | None = None
    end: datetime | None = None
    threshold: float | None = Field(None, gt=0, le=1, description="Dataset drift threshold (drift share)")
    notify: bool = True

    @model_validator(mode="after")
    def _window(self) -> DriftEvent:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start and self.end:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a time zone (e.g. 2026-11-22T00:00:00Z)")
            if self.start >= self.end:
                raise ValueError("start must be before end")
            if self.days is not None or self.hours is not None:
                raise ValueError("give days or hours, or start and end, not both")
        if self.days is not None and self.hours is not None:
            raise ValueError("give days or hours, not both")
        return self

    def window(self, default_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) window; a days or hours window ends at the next full hour (re-runs share keys)."""
        if self.start and self.end:
            return self.start.astimezone(UTC), self.end.astimezone(UTC)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        span = timedelta(hours=self.hours) if self.hours else timedelta(days=self.days or default_days)
        return end - span, end
