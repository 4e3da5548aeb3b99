"""Payloads of the compare function: its event and its summary (creditwatch_analytics.comparison.models)."""

from __future__ import annotations

from pydantic import Field

from creditwatch_analytics.comparison.models import ComparisonFigures, ComparisonSummary, Rule
from creditwatch_analytics.jobs import DaysWindowEvent

__all__ = ["CompareEvent", "ComparisonFigures", "ComparisonSummary", "Rule"]


class CompareEvent(DaysWindowEvent):
    """Which window to compare. Scheduled runs send a source only; on demand, a window or the last days."""

    # The challenger to compare (default: the one most records of the window carry).
    challenger_version: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    notify: bool = True
