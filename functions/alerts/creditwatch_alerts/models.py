"""Payloads of the alerts function: its event and its result."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from creditwatch_alerts.oversight import OversightStats
from creditwatch_alerts.rules import Condition, WindowStats


class AlertsEvent(BaseModel):
    """Scheduled runs send a source; on demand, a window end can be given (e.g. to replay a past window)."""

    source: str | None = None
    window_end: datetime | None = None
    window_minutes: int | None = None
    drain_notifications: bool = True


class Posted(BaseModel):
    """A message this run sent."""

    kind: str
    key: str
    text: str


class AlertsResult(BaseModel):
    """What a run saw and did."""

    stats: WindowStats
    conditions: list[Condition]
    posted: list[Posted] = []
    skipped: list[str] = []
    notifications_delivered: int = 0
    # Messages of the notifications queue that are not a notification this code knows.
    rejected: list[str] = []
    errors: list[str] = []
    # Spilled prediction log records moved back into the table by this run, and those left in the queue.
    spill_replayed: int = 0
    spill_replay_failed: int = 0
    # The review queue and the reviewers' decisions (None: no case table, or it could not be read).
    oversight: OversightStats | None = None
