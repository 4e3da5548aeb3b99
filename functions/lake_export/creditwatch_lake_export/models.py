"""Payloads of the lake export function: its event."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from creditwatch_analytics.jobs import JobEvent


class LakeExportEvent(JobEvent):
    """Scheduled runs send a source only; on demand, how many hours, and the time they end at (a backfill)."""

    hours: int | None = Field(None, ge=1, le=24 * 31, description="Hours to export, the one of `at` included")
    at: datetime | None = Field(None, description="Export the hours up to the one holding this time (default now)")

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("at needs a time zone (e.g. 2026-11-22T00:00:00Z)")
        return value
