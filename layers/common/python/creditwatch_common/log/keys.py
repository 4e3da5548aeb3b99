"""The log's key design: a record's partition and sort keys follow from its id alone.

  pk = "LOG#<yyyy-mm-dd>#<shard>"   day bucket x shard: writes of one day spread over `shards`
                                     partitions; a time window is read with day x shard queries.
  sk = "<ISO-8601 ms>Z#<id>"        sorts by time, so a window is one `BETWEEN` per partition.
The id is a UUIDv7: it embeds its millisecond, so pk and sk of any record follow from its id
(one GetItem by id, no index).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_common.ids import iso_millis, uuid7_millis


def day_of(ms: int) -> str:
    """The UTC day bucket of a millisecond timestamp."""
    return iso_millis(ms)[:10]


def shard_of(prediction_id: str, shards: int) -> int:
    """Shard from the id's random tail (its last 8 hex digits), so writes spread evenly."""
    return int(prediction_id[-8:], 16) % shards


def partition_key(day: str, shard: int) -> str:
    """The partition key of one UTC day (yyyy-mm-dd) and shard."""
    return f"LOG#{day}#{shard:02d}"


def sort_key(ts: str, prediction_id: str) -> str:
    """The sort key of a record: its ISO millisecond time, then its id."""
    return f"{ts}#{prediction_id}"


def keys_for(prediction_id: str, shards: int) -> dict[str, str]:
    """Primary key of a record, derived from its id alone."""
    ts = iso_millis(uuid7_millis(prediction_id))
    return {"pk": partition_key(ts[:10], shard_of(prediction_id, shards)), "sk": sort_key(ts, prediction_id)}


def key_attributes(key: dict[str, str]) -> dict[str, Any]:
    """A key in attribute-value form."""
    return {k: {"S": v} for k, v in key.items()}


def partitions(start: datetime, end: datetime, shards: int) -> list[str]:
    """Every partition key that can hold records of [start, end]."""
    days = []
    day = start.astimezone(UTC).date()
    while day <= end.astimezone(UTC).date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return [partition_key(d, s) for d in days for s in range(shards)]
