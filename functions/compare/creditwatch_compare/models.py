"""Payloads of the compare function: its event and its summary (creditwatch_analytics.comparison.models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from creditwatch_analytics.comparison.models import ComparisonFigures, ComparisonSummary, Rule

__all__ = ["CompareEvent", "ComparisonFigures", "ComparisonSummary", "Rule"]


class CompareEvent(BaseModel):
    """Which window to compare. Scheduled runs send a source only; on demand, a window or the last days."""

    model_config = ConfigDict(extra="ignore")

    source: str | None = None
    start: datetime | None = Field(None, description="Window start (inclusive)")
    end: datetime | None = Field(None, description="Window end (exclusive)")
    days: int | None = Field(None, ge=1, le=760, description="The window ending now, this many days long")
    # The challenger to compare (default: the one most records of the window carry).
    challenger_version: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    notify: bool = True

    @model_validator(mode="after")
    def _window(self) -> CompareEvent:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.days is not None:
            raise ValueError("give start and end, or days, not both")
        if self.start and self.end:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a time zone (e.g. 2026-08-01T00:00:00Z)")
            if self.start >= self.end:
                raise ValueError("start must be before end")
        return self

    def window(self, default_days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
        """The [start, end) compared: the event's, else the last days ending at the current hour's end."""
        if self.start and self.end:
            return self.start.astimezone(UTC), self.end.astimezone(UTC)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return end - timedelta(days=self.days or default_days), end
