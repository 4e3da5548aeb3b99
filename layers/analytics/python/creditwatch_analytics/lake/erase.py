"""Erasing records from the lake: each object that holds them rewritten whole without their rows.

A prediction's row is in one object, its hour's (`predictions/dt=.../hour=.../part-0.parquet`), known
from its id alone (a UUIDv7 carries its time, and the export files a record by it). Its outcome events
are in the objects of the hours they were recorded (`outcomes/dt=.../hour=...`): named by the recorded
times when the table still knows them (the item's `outcome_recorded_at` and `outcome_history`), by the
days they were recorded, or, once the table no longer holds the record (after its TTL), found by
reading every object under `outcomes/`.

An object is rewritten as the export writes it: the same schema and file metadata (schema version
keys), its rows in the same order (by sample key) and its row groups as large as before
(`parquet_bytes` from the first group's size); an object left without rows is deleted. Each write is
conditional on the ETag read (If-Match): an export that replaced the object in between is not
overwritten, the object is read again and the erase applied to the new one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from creditwatch_analytics.lake.export import DEFAULT_PREFIX, hour_key, parquet_bytes
from creditwatch_analytics.lake.outcomes import OUTCOMES_PREFIX, check_outcome_version
from creditwatch_analytics.lake.schema import LakeError, check_version, not_parquet
from creditwatch_common.ids import iso_millis, uuid7_millis

PARQUET = "application/vnd.apache.parquet"
# Answers to a conditional write or delete whose object changed (or vanished) since it was read.
_CHANGED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class ObjectErasure(BaseModel):
    """One object that held erased rows: rewritten without them, or deleted when none remained."""

    key: str
    rows_removed: int
    rows_left: int
    deleted: bool
    # Outcome objects: when each removed event was recorded (ISO 8601), to find its item in the table.
    removed_recorded_at: list[str] = []


class LakeErasure(BaseModel):
    """What one erase did to the lake."""

    bucket: str
    prediction_ids: list[str]
    objects: list[ObjectErasure]
    # How many objects were read (those that did not exist are not counted).
    objects_read: int
    # True when the outcome events were looked for in every object under the outcomes prefix.
    scanned_outcomes: bool = False

    @property
    def rows_removed(self) -> int:
        """Rows removed over every object."""
        return sum(o.rows_removed for o in self.objects)


def prediction_hour_key(prediction_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The object of the hour that holds a prediction (ValueError if the id is not a UUIDv7)."""
    return hour_key(prefix, datetime.fromtimestamp(uuid7_millis(prediction_id) / 1000, tz=UTC))


def outcome_hour_key(recorded_at: str | datetime, prefix: str = OUTCOMES_PREFIX) -> str:
    """The object of the hour an outcome event was recorded in."""
    at = (
        recorded_at if isinstance(recorded_at, datetime) else datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    )
    return hour_key(prefix, at if at.tzinfo else at.replace(tzinfo=UTC))


def erase_from_lake(
    s3: Any,
    bucket: str,
    prediction_ids: Iterable[str],
    *,
    outcome_recorded_at: Iterable[str | datetime] = (),
    outcome_dates: Iterable[str | date] = (),
    scan_outcomes: bool = False,
    review_decided_at: Iterable[str] = (),
    prefix: str = DEFAULT_PREFIX,
    outcomes_prefix: str = OUTCOMES_PREFIX,
    attempts: int = 5,
    workers: int = 8,
) -> LakeErasure:
    """Rewrite every lake object that holds the ids' rows without them; say which and how many rows.

    The predictions' hours come from the ids. Outcome events are looked for in the hours of
    `outcome_recorded_at`, in every hour of the days `outcome_dates` (YYYY-MM-DD), and with
    `scan_outcomes` in every object under `outcomes_prefix` (and every review object). Review decisions
    are looked for in the hours of `review_decided_at`. An object that is not Parquet, or of a
    schema version this code does not read, raises LakeError naming its key (nothing after it is
    written; what was rewritten before it stays rewritten, and a second run completes the erase).
    """
    ids = sorted(set(prediction_ids))
    if not ids:
        return LakeErasure(bucket=bucket, prediction_ids=[], objects=[], objects_read=0, scanned_outcomes=scan_outcomes)
    prediction_keys = sorted({prediction_hour_key(pid, prefix) for pid in ids})
    outcome_keys = {outcome_hour_key(at, outcomes_prefix) for at in outcome_recorded_at}
    for day in outcome_dates:
        outcome_keys.update(_parquet_keys(s3, bucket, f"{outcomes_prefix}/dt={_day(day)}/"))
    if scan_outcomes:
        outcome_keys.update(_parquet_keys(s3, bucket, f"{outcomes_prefix}/"))
    jobs: list[tuple[str, Callable[[Any, str], int]]] = [(k, check_version) for k in prediction_keys]
    jobs += [(k, check_outcome_version) for k in sorted(outcome_keys)]
    # Review decisions: the hours they were decided in (known from the case), or every one with the outcomes'.
    from creditwatch_analytics.lake.reviews import REVIEWS_PREFIX, check_review_version

    review_keys = {outcome_hour_key(at, REVIEWS_PREFIX) for at in review_decided_at}
    if scan_outcomes:
        review_keys.update(_parquet_keys(s3, bucket, f"{REVIEWS_PREFIX}/"))
    jobs += [(k, check_review_version) for k in sorted(review_keys)]
    value_set = pa.array(ids, pa.string())

    def one(job: tuple[str, Callable[[Any, str], int]]) -> tuple[bool, ObjectErasure | None]:
        return _erase_object(s3, bucket, job[0], value_set, job[1], attempts)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        done = list(pool.map(one, jobs))
    return LakeErasure(
        bucket=bucket,
        prediction_ids=ids,
        objects=[o for _, o in done if o is not None],
        objects_read=sum(1 for read, _ in done if read),
        scanned_outcomes=scan_outcomes,
    )


def _day(value: str | date) -> str:
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _parquet_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]
    return keys


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _erase_object(
    s3: Any, bucket: str, key: str, ids: pa.Array, check: Callable[[Any, str], int], attempts: int
) -> tuple[bool, ObjectErasure | None]:
    """(whether the object existed, what was removed from it or None), by conditional writes, retried."""
    from botocore.exceptions import ClientError

    for _ in range(attempts):
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False, None
            raise
        etag, body = got["ETag"], got["Body"].read()
        table, first_group = _read(body, key, check)
        if "prediction_id" not in table.column_names:
            raise LakeError(f"s3 object {key}: no prediction_id column")
        hit = pc.fill_null(pc.is_in(table.column("prediction_id"), value_set=ids), False)
        removed = table.filter(hit)
        if removed.num_rows == 0:
            return True, None
        kept = table.filter(pc.invert(hit))
        try:
            if kept.num_rows == 0:
                s3.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
            else:
                s3.put_object(
                    Bucket=bucket, Key=key, Body=parquet_bytes(kept, first_group), ContentType=PARQUET, IfMatch=etag
                )
        except ClientError as exc:
            if _code(exc) in _CHANGED:
                continue  # replaced (an export) or deleted since it was read: read it again
            raise
        recorded = []
        if "recorded_at" in removed.column_names:
            recorded = [_iso(t) for t in removed.column("recorded_at").to_pylist() if t is not None]
        return True, ObjectErasure(
            key=key,
            rows_removed=removed.num_rows,
            rows_left=kept.num_rows,
            deleted=kept.num_rows == 0,
            removed_recorded_at=recorded,
        )
    raise LakeError(f"s3 object {key}: changed while it was being rewritten, {attempts} times; run the erase again")


def _read(body: bytes, key: str, check: Callable[[Any, str], int]) -> tuple[pa.Table, int]:
    """An object's rows (schema and metadata as written) and its first row group's size."""
    try:
        file = pq.ParquetFile(io.BytesIO(body))
        check(file.schema_arrow.metadata, key)
        table = file.read()
    except (pa.ArrowInvalid, OSError) as exc:
        raise not_parquet(key, exc) from exc
    meta = file.metadata
    # The export's groups double from the first one: the same first size gives the same layout (a
    # single group is at least as large as the rows left, which then stay one group).
    first_group = meta.row_group(0).num_rows if meta.num_row_groups else 1
    return table, max(first_group, 1)


def _iso(value: datetime) -> str:
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    return iso_millis(round(at.timestamp() * 1000))
