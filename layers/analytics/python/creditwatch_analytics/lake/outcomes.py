"""Outcomes in the lake: the outcome events recorded in each hour, as Parquet beside the predictions.

`outcomes/dt=YYYY-MM-DD/hour=HH/part-0.parquet` holds every outcome event recorded in that hour (by
the time it was recorded, not the prediction's: an outcome for a loan decided a year ago lands in
today's hour). Nothing is updated in place: a correction is a new row (`correction`, `previous`), and
readers take the latest `recorded_at` per prediction (the view `outcomes`). Like an hour of
predictions, an hour of outcomes is rewritten whole from the table by every export that covers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from creditwatch_analytics.lake.schema import SCHEMA_VERSION_KEY, LakeError
from creditwatch_common.log.outcomes import OUTCOME_SCHEMA_VERSION

OUTCOMES_PREFIX = "outcomes"
# Versions of the outcome rows this code reads; any other fails the read with the object's key named.
READABLE_OUTCOME_VERSIONS = frozenset({1})
KIND_KEY = b"creditwatch.kind"

OUTCOME_FIELDS: tuple[pa.Field, ...] = (
    pa.field("prediction_id", pa.string(), nullable=False),
    pa.field("outcome", pa.string(), nullable=False),
    pa.field("observed_at", pa.timestamp("ms", tz="UTC")),
    pa.field("recorded_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("correction", pa.bool_(), nullable=False),
    pa.field("previous", pa.string()),
    pa.field("schema_version", pa.int16(), nullable=False),
)
OUTCOME_SCHEMA = pa.schema(
    OUTCOME_FIELDS, metadata={SCHEMA_VERSION_KEY: str(OUTCOME_SCHEMA_VERSION).encode(), KIND_KEY: b"outcomes"}
)
OUTCOME_COLUMNS = tuple(f.name for f in OUTCOME_FIELDS)

# The latest recorded outcome of each prediction, over the view of every event (`outcome_events`).
LATEST_OUTCOMES_SQL = (
    "CREATE VIEW outcomes AS SELECT * FROM outcome_events "
    "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY recorded_at DESC) = 1"
)
EMPTY_OUTCOME_EVENTS_SQL = (
    "CREATE VIEW outcome_events AS SELECT NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS outcome, "
    "NULL::TIMESTAMPTZ AS observed_at, NULL::TIMESTAMPTZ AS recorded_at, NULL::BOOLEAN AS correction, "
    "NULL::VARCHAR AS previous, NULL::SMALLINT AS schema_version WHERE false"
)


def _ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def outcome_table(events: Sequence[dict[str, Any]]) -> pa.Table:
    """Outcome event items (plain values) as rows of the lake, sorted by recorded time then id."""
    for e in events:
        version = int(e.get("schema_version", 0))
        if version not in READABLE_OUTCOME_VERSIONS:
            raise LakeError(f"outcome event {e.get('sk')}: schema version {version} is not one this code writes")
    ordered = sorted(events, key=lambda e: (str(e["recorded_at"]), str(e["prediction_id"])))
    columns = {
        "prediction_id": [str(e["prediction_id"]) for e in ordered],
        "outcome": [str(e["outcome"]) for e in ordered],
        "observed_at": [_ts(e.get("observed_at")) for e in ordered],
        "recorded_at": [_ts(e["recorded_at"]) for e in ordered],
        "correction": [bool(e.get("correction", False)) for e in ordered],
        "previous": [e.get("previous") for e in ordered],
        "schema_version": [int(e["schema_version"]) for e in ordered],
    }
    return pa.table(columns, schema=OUTCOME_SCHEMA)


def check_outcome_version(metadata: dict[bytes, bytes] | None, key: str) -> int:
    """The schema version of an outcomes object; LakeError naming its key if it is not one we read."""
    raw = (metadata or {}).get(SCHEMA_VERSION_KEY)
    kind = (metadata or {}).get(KIND_KEY)
    try:
        version = int(raw) if raw is not None else None
    except ValueError:
        version = None
    if version not in READABLE_OUTCOME_VERSIONS or kind != b"outcomes":
        shown = raw.decode(errors="replace") if raw is not None else "none"
        raise LakeError(
            f"s3 object {key}: outcomes schema version {shown} is not one this code reads "
            f"{sorted(READABLE_OUTCOME_VERSIONS)}"
        )
    return version
