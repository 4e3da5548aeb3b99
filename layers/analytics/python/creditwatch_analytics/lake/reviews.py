"""Review decisions in the lake: the review events decided in each hour, as Parquet beside the outcomes.

`reviews/dt=YYYY-MM-DD/hour=HH/part-0.parquet` holds every decision recorded in that hour (by the time it
was decided). Append-only as outcomes are: a correction is a new row (`correction`, `previous`), the
latest `decided_at` per case is its decision. Each export rewrites the hour whole from the table's event
items (`REV#<day>#<shard>`), so a re-run never duplicates and an erased event leaves the next export's object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from creditwatch_analytics.lake.export import delete_if_present, hour_key, parquet_bytes
from creditwatch_analytics.lake.outcomes import KIND_KEY
from creditwatch_analytics.lake.schema import SCHEMA_VERSION_KEY, LakeError
from creditwatch_common.log import LogReader
from creditwatch_common.review import REVIEW_SCHEMA_VERSION, review_event_range

REVIEWS_PREFIX = "reviews"
READABLE_REVIEW_VERSIONS = frozenset({1})
REVIEW_FIELDS: tuple[pa.Field, ...] = (
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("prediction_id", pa.string(), nullable=False),
    pa.field("decision", pa.string(), nullable=False),
    pa.field("model_decision", pa.string(), nullable=False),
    pa.field("override", pa.bool_(), nullable=False),
    pa.field("reason_code", pa.string(), nullable=False),
    pa.field("decided_by", pa.string(), nullable=False),
    pa.field("decided_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("channel", pa.string(), nullable=False),
    pa.field("correction", pa.bool_(), nullable=False),
    pa.field("previous", pa.string()),
    pa.field("schema_version", pa.int16(), nullable=False),
)
# No `note`: free text a reviewer typed stays in the table (and goes with its TTL or an erase).
REVIEW_SCHEMA = pa.schema(
    REVIEW_FIELDS, metadata={SCHEMA_VERSION_KEY: str(REVIEW_SCHEMA_VERSION).encode(), KIND_KEY: b"reviews"}
)
HOUR = timedelta(hours=1)

# The latest decision on each prediction's case (a correction replaces it), over every event (`review_events`).
LATEST_REVIEWS_SQL = (
    "CREATE VIEW reviews AS SELECT * FROM review_events "
    "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY decided_at DESC) = 1"
)
EMPTY_REVIEW_EVENTS_SQL = (
    "CREATE VIEW review_events AS SELECT NULL::VARCHAR AS case_id, NULL::VARCHAR AS prediction_id, "
    "NULL::VARCHAR AS decision, NULL::VARCHAR AS model_decision, NULL::BOOLEAN AS override, "
    "NULL::VARCHAR AS reason_code, NULL::VARCHAR AS decided_by, NULL::TIMESTAMPTZ AS decided_at, "
    "NULL::VARCHAR AS channel, NULL::BOOLEAN AS correction, NULL::VARCHAR AS previous, "
    "NULL::SMALLINT AS schema_version WHERE false"
)


def review_events(reader: LogReader, start: datetime, end: datetime, workers: int = 8) -> list[dict[str, Any]]:
    """Every review event decided in [start, end) (plain values), by Query per day and shard."""
    parts, lo, hi = review_event_range(start, end, reader.shards)
    return list(reader.query_partitions(parts, lo, hi, workers))


def review_table(events: Sequence[dict[str, Any]]) -> pa.Table:
    """Review event items (plain values) as rows of the lake, sorted by decided time then case."""
    for e in events:
        if int(e.get("schema_version", 0)) not in READABLE_REVIEW_VERSIONS:
            raise LakeError(f"review event {e.get('sk')}: schema version {e.get('schema_version')} is not one we write")
    ordered = sorted(events, key=lambda e: (str(e["decided_at"]), str(e["case_id"])))

    def ts(value: Any) -> datetime:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)

    columns: dict[str, list[Any]] = {f.name: [] for f in REVIEW_FIELDS}
    for e in ordered:
        for f in REVIEW_FIELDS:
            value = e.get(f.name)
            if f.name == "decided_at":
                value = ts(value)
            elif f.type == pa.bool_():
                value = bool(value)
            elif f.name == "schema_version":
                value = int(value or 0)
            columns[f.name].append(value)
    return pa.table(columns, schema=REVIEW_SCHEMA)


def export_reviews_hour(
    reader: LogReader,
    s3: Any,
    bucket: str,
    hour: datetime,
    first_row_group: int = 1_000,
    workers: int = 8,
    events: list[dict[str, Any]] | None = None,
    listed_keys: set[str] | None = None,
) -> tuple[str | None, int]:
    """Rewrite the object of the review events decided in one hour: its key and rows (none when empty).

    `events`: the hour's events, read already; `listed_keys`: the keys its day holds, listed already (a backfill
    reads and lists whole days: per hour, 16 Queries and a listing were most of a backfill's time).
    """
    if events is None:
        events = review_events(reader, hour, hour + HOUR, workers)
    key = hour_key(REVIEWS_PREFIX, hour)
    if not events:
        delete_if_present(s3, bucket, key, listed_keys)
        return None, 0
    body = parquet_bytes(review_table(events), first_row_group)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
    return key, len(events)


def check_review_version(metadata: dict[bytes, bytes] | None, key: str) -> int:
    """The schema version of a reviews object; LakeError naming its key if it is not one we read."""
    raw = (metadata or {}).get(SCHEMA_VERSION_KEY)
    try:
        version = int(raw) if raw is not None else None
    except ValueError:
        version = None
    if version not in READABLE_REVIEW_VERSIONS or (metadata or {}).get(KIND_KEY) != b"reviews":
        raise LakeError(f"s3 object {key}: not a reviews object of a version this code reads")
    return version
