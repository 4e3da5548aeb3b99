"""Finding records of the prediction log by prediction id or by request id."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_common.ids import uuid7_millis
from creditwatch_common.records import FullRow

# A request's records are stamped while it runs: after its id (when the id is time-ordered) and
# within the function's timeout (29 s); the margins cover clocks of different machines.
BEFORE = timedelta(minutes=1)
AFTER = timedelta(minutes=2)
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class LookupProblem(Exception):
    """The id or window cannot be searched as given."""


def parse_duration(text: str) -> timedelta:
    """`30m`, `1h`, `2d`, `90s` (or a sum such as `1h30m`) as a timedelta."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or _DURATION.sub("", text.strip().lower()).strip():
        raise LookupProblem(f"{text!r} is not a duration: write it as 90s, 30m, 1h or 2d")
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), start=timedelta())


def millis_of(value: str) -> int | None:
    """The time of a UUIDv7 (ms), or None when the id is not one."""
    try:
        return uuid7_millis(value)
    except ValueError:
        return None


def find(log: Any, record_id: str, last: timedelta | None = None) -> Any:
    """The record (a dict) of a prediction id, or the records (a list) of a request id; None when absent.

    `log` is a `creditwatch_common.log.LogReader`.
    """
    ms = millis_of(record_id)
    if ms is not None:
        record = log.get(record_id)
        if record is not None:
            return record.model_dump(mode="json", exclude_none=True)
        at = datetime.fromtimestamp(ms / 1000, tz=UTC)
        start, end = at - BEFORE, at + AFTER
    elif last is not None:
        end = datetime.now(UTC) + timedelta(seconds=1)
        start = end - last
    else:
        raise LookupProblem(
            f"{record_id} is not a prediction id, and as a request id it carries no time (not a UUIDv7, "
            "as API Gateway's are not): search a window for it with --last, e.g. --last 1h"
        )
    rows = [r for r in log.query_window(start, end, FullRow) if r.request_id == record_id]
    if not rows:
        return None
    rows.sort(key=lambda r: (r.batch_index if r.batch_index is not None else -1, r.sk))
    return [r.model_dump(mode="json", exclude_none=True) for r in rows]
