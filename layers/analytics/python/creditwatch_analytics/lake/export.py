"""The hourly export: each recent hour of the table read by its time-sorted keys, written whole as Parquet.

An hour's object has one key (`predictions/dt=YYYY-MM-DD/hour=HH/part-0.parquet`) and is rewritten
whole from the table on every export that covers the hour: a re-run replaces, never duplicates. The
outcome events recorded in the same hour go to `outcomes/dt=.../hour=.../part-0.parquet` the same way
(creditwatch_analytics/lake/outcomes.py).

A record that reaches the table late (a spill replay keeps the record's own time, up to the spill
queue's 14 days back) lands in an hour the recent hours may no longer cover: the replay marks that hour
(creditwatch_common/log/pending.py) and every export also rewrites the marked hours, then clears each
mark it saw, only once the hour is written (a run that fails in between rewrites the hour again next
time: the same object).

The table forgets: its TTL removes a rejected request after RejectedTtlDays and every other record after
PredictionTtlDays. An hour older than the shorter of the two is never rebuilt from the table alone: an
export asked for one is refused (`RewriteRefused`, naming the limit), and a marked hour that old gets
its late records merged into the object the lake holds (no row of it dropped, its outcomes object left
as it is). A backfill of past days (creditwatch_analytics/lake/backfill.py) may write older hours of
simulated history.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from creditwatch_analytics.lake.outcomes import OUTCOMES_PREFIX, outcome_table
from creditwatch_analytics.lake.schema import SCHEMA_VERSION, LakeError, LakeSchema, check_version
from creditwatch_common.ids import iso_utc
from creditwatch_common.log.outcomes import outcome_events
from creditwatch_common.log.pending import PendingHour, PendingHours
from creditwatch_common.log.reader import LogReader
from creditwatch_common.records import ExportRow

DEFAULT_PREFIX = "predictions"
WATERMARK = "_exported.json"
HOUR = timedelta(hours=1)


def hour_floor(t: datetime) -> datetime:
    """The UTC hour that holds t."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_key(prefix: str, hour: datetime) -> str:
    """The one object key of an hour (Hive-style partitions: dt, hour)."""
    h = hour_floor(hour)
    return f"{prefix}/dt={h:%Y-%m-%d}/hour={h:%H}/part-0.parquet"


def watermark_key(prefix: str) -> str:
    """Where the export says which hours the lake holds completely."""
    return f"{prefix}/{WATERMARK}"


class Watermark(BaseModel):
    """The hours the lake holds completely: [first_hour, complete_through), each exported after it ended."""

    schema_version: int = SCHEMA_VERSION
    first_hour: datetime
    complete_through: datetime
    exported_at: datetime
    last_hours: list[str] = []
    last_rows: int = 0

    def covers(self, start: datetime, end: datetime) -> bool:
        """True when every hour of [start, end) is in the lake."""
        return self.first_hour <= start and end <= self.complete_through


class RewriteRefused(ValueError):
    """An export asked to rebuild hours the table may have lost records of (older than its shortest TTL)."""

    def __init__(self, message: str, limit_days: int) -> None:
        super().__init__(message)
        self.limit_days = limit_days


class LateHoursFailed(RuntimeError):
    """Marked hours that could not be written (their marks stay: the next export tries them again)."""


class HourExport(BaseModel):
    """One hour written."""

    hour: str
    key: str
    rows: int
    bytes: int
    # The outcome events recorded in the hour (0 and no object when none).
    outcome_key: str | None = None
    outcome_rows: int = 0
    # The review decisions recorded in the hour (creditwatch_analytics/lake/reviews.py).
    review_rows: int = 0
    # A marked hour older than the table's shortest TTL: its late records merged into the lake's object.
    merged: bool = False


class ExportResult(BaseModel):
    """What one export did."""

    status: str = "ok"
    bucket: str
    hours: list[HourExport]
    rows: int
    watermark: Watermark
    outcome_rows: int = 0
    # Hours outside the recent ones, rewritten because a spill replay marked them (rows counted above).
    late_hours: list[HourExport] = []


@dataclass
class LakeExporter:
    """Reads hours of the prediction log and writes each as one Parquet object."""

    reader: LogReader
    s3: Any
    bucket: str
    schema: LakeSchema
    prefix: str = DEFAULT_PREFIX
    # Where the outcome events go (None: not exported).
    outcomes_prefix: str | None = OUTCOMES_PREFIX
    # The first row group's rows; each next one is twice as large (see parquet_bytes).
    first_row_group: int = 1_000
    workers: int = 8
    # The table's TTLs in days (PredictionTtlDays, RejectedTtlDays; None: records never expire). An hour
    # older than the shorter one may have lost records, so it is never rebuilt from the table alone.
    ttl_days: int | None = None
    rejected_ttl_days: int | None = None
    # The hours the spill replay marked (None: marks are not read), at most this many a run, oldest
    # first (a replay after a long outage may mark days of hours; the rest wait for the next runs).
    pending: PendingHours | None = None
    late_hours_per_run: int = 48
    # The wall clock, for the TTL limit (an export's `now` may be a backfill's past time).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def export(
        self, hours: int, now: datetime | None = None, progress: Callable[[int, int], None] | None = None
    ) -> ExportResult:
        """Export the last `hours` hours, the current one included, then move the watermark; then the marked hours.

        RewriteRefused, before anything is written, when the first hour is older than the table's
        shortest TTL. A marked hour that fails to write fails the run (LateHoursFailed) after every
        other hour and the watermark are written; its mark stays for the next run. `progress(hours
        written, hours)` after each recent hour.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        current = hour_floor(now)
        first = current - (hours - 1) * HOUR
        self.check_rebuildable(first, hours)
        # Read before any hour: a mark written after this read is kept for the next run.
        marks = self.pending.list() if self.pending is not None else []
        recent = [first + i * HOUR for i in range(hours)]
        done = []
        for h in recent:
            done.append(self.export_hour(h))
            if progress is not None:
                progress(len(done), hours)
        watermark = self._advance(first, current, now, done)
        late, failed = self._export_marked(marks, set(recent))
        result = ExportResult(
            bucket=self.bucket,
            hours=done,
            rows=sum(h.rows for h in (*done, *late)),
            watermark=watermark,
            outcome_rows=sum(h.outcome_rows for h in (*done, *late)),
            late_hours=late,
        )
        if failed:
            raise LateHoursFailed(f"marked hour(s) not exported, kept for the next run: {'; '.join(failed)}")
        return result

    # ---- the table's TTL ----------------------------------------------------------------------
    def rebuild_limit(self) -> tuple[int, str] | None:
        """The shortest TTL of the table in days and the parameter that sets it (None: no TTL)."""
        limits = [
            (days, name)
            for days, name in (
                (self.rejected_ttl_days, "RejectedTtlDays (REJECTED_TTL_DAYS)"),
                (self.ttl_days, "PredictionTtlDays (LOG_TTL_DAYS)"),
            )
            if days is not None
        ]
        return min(limits, key=lambda limit: limit[0]) if limits else None

    def rebuildable(self, hour: datetime) -> bool:
        """Whether every record of the hour is still in the table (its earliest one has not reached its TTL)."""
        limit = self.rebuild_limit()
        return limit is None or hour_floor(hour) + timedelta(days=limit[0]) > self.clock().astimezone(UTC)

    def check_rebuildable(self, first: datetime, hours: int) -> None:
        """RewriteRefused (naming the limit) if the first of the hours asked for is past the table's shortest TTL."""
        limit = self.rebuild_limit()
        if limit is None or self.rebuildable(first):
            return
        days, name = limit
        raise RewriteRefused(
            f"refused: the {hours} hour(s) asked for start at {iso_utc(first)}, older than {days} day(s) ago "
            f"({name}={days}, the shortest TTL of the table): records of such an hour may have expired from "
            "the table, and rebuilding it would drop them from the lake; export only hours less than "
            f"{days} day(s) old",
            days,
        )

    # ---- marked hours (spill replays) -----------------------------------------------------------
    def _export_marked(self, marks: list[PendingHour], recent: set[datetime]) -> tuple[list[HourExport], list[str]]:
        """Write the marked hours not among the recent ones, then clear the mark of every hour written."""
        late: list[HourExport] = []
        failed: list[str] = []
        written = set(recent)
        for hour in sorted({m.hour for m in marks} - written)[: self.late_hours_per_run]:
            try:
                late.append(self.export_hour(hour) if self.rebuildable(hour) else self.merge_hour(hour))
            except Exception as exc:  # noqa: BLE001 - the others still go; the run fails after them
                failed.append(f"{iso_utc(hour)}: {type(exc).__name__}: {exc}")
                continue
            written.add(hour)
        for mark in marks:
            if mark.hour in written and self.pending is not None:
                # False: marked again since it was read (a record this run may have missed): next run.
                self.pending.clear(mark)
        return late, failed

    def merge_hour(
        self, hour: datetime, records: list[dict[str, Any]] | None = None, in_lake: bool | None = None
    ) -> HourExport:
        """Add the table's records of an hour past its TTL to the lake's object of it; no row of the object is lost.

        The table may have forgotten records of the hour, so its rows replace the object's rows of the
        same prediction id and the object's other rows stay. The hour's outcomes object is left alone.
        `records`: the hour's, read already; `in_lake`: whether the lake has an object of it, listed
        already (a backfill reads and lists whole days).
        """
        hour = hour_floor(hour)
        key = hour_key(self.prefix, hour)
        if records is None:
            records = self.read_hour(hour)
        table = self.schema.table(records)
        old = self._read_object(key) if in_lake is not False else None
        if old is not None:
            fresh = pa.array(table.column("prediction_id").to_pylist(), pa.string())
            kept = old.filter(pc.invert(pc.is_in(old.column("prediction_id"), value_set=fresh)))
            if kept.num_rows:
                table = pa.concat_tables([table, kept], promote_options="default").replace_schema_metadata(
                    table.schema.metadata
                )
        if table.num_rows == 0:
            return HourExport(hour=iso_utc(hour), key=key, rows=0, bytes=0, merged=True)
        table = table.sort_by([("sample_key", "ascending"), ("prediction_id", "ascending")])
        body = parquet_bytes(table, self.first_row_group)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
        return HourExport(hour=iso_utc(hour), key=key, rows=table.num_rows, bytes=len(body), merged=True)

    def _read_object(self, key: str) -> pa.Table | None:
        """The lake's object at key (its schema version checked), or None when there is none."""
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        if not any(o["Key"] == key for o in listed):
            return None
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        try:
            table = pq.read_table(io.BytesIO(body))
        except pa.ArrowInvalid as exc:
            raise LakeError(f"s3 object {key} is not a readable Parquet file: {exc}") from exc
        check_version(table.schema.metadata, key)
        return table

    # ---- one hour -------------------------------------------------------------------------------

    def read_hour(self, hour: datetime) -> list[dict[str, Any]]:
        """The table's records of one hour, as the lake's rows take them."""
        return [r.values for r in self.reader.query_window(hour, hour + HOUR, ExportRow, workers=self.workers)]

    def export_hour(
        self,
        hour: datetime,
        records: list[dict[str, Any]] | None = None,
        events: list[dict[str, Any]] | None = None,
        reviews: list[dict[str, Any]] | None = None,
        listed_keys: set[str] | None = None,
    ) -> HourExport:
        """Rewrite one hour's object from the table (nothing written for an hour without records).

        `records`, `events` and `reviews`: the hour's records, outcome and review events, read already, and
        `listed_keys` the outcome and review keys its day holds, listed already (a backfill reads and lists whole days).
        """
        hour = hour_floor(hour)
        if records is None:
            records = self.read_hour(hour)
        key = hour_key(self.prefix, hour)
        outcome_key, outcome_rows = self.export_outcomes_hour(hour, events, listed_keys)
        review_rows = self.export_reviews_hour(hour, reviews, listed_keys)
        if not records:
            return HourExport(
                hour=iso_utc(hour),
                key=key,
                rows=0,
                bytes=0,
                outcome_key=outcome_key,
                outcome_rows=outcome_rows,
                review_rows=review_rows,
            )
        table = self.schema.table(records)
        # Sorted by sample key: the same records give the same object whatever order the parallel reader
        # used, and a window's sample is in the first row group of each hour.
        table = table.sort_by([("sample_key", "ascending"), ("prediction_id", "ascending")])
        body = parquet_bytes(table, self.first_row_group)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
        return HourExport(
            hour=iso_utc(hour),
            key=key,
            rows=len(records),
            bytes=len(body),
            outcome_key=outcome_key,
            outcome_rows=outcome_rows,
            review_rows=review_rows,
        )

    def export_reviews_hour(
        self, hour: datetime, events: list[dict[str, Any]] | None = None, listed_keys: set[str] | None = None
    ) -> int:
        """Rewrite the object of the review events decided in one hour (beside its outcomes); its rows."""
        if self.outcomes_prefix is None:
            return 0
        from creditwatch_analytics.lake.reviews import export_reviews_hour

        return export_reviews_hour(
            self.reader, self.s3, self.bucket, hour, self.first_row_group, self.workers, events, listed_keys
        )[1]

    def export_outcomes_hour(
        self, hour: datetime, events: list[dict[str, Any]] | None = None, listed_keys: set[str] | None = None
    ) -> tuple[str | None, int]:
        """Rewrite the object of the outcome events recorded in one hour: its key and rows (none when empty)."""
        if self.outcomes_prefix is None:
            return None, 0
        hour = hour_floor(hour)
        if events is None:
            events = list(outcome_events(self.reader, hour, hour + HOUR, workers=self.workers))
        key = hour_key(self.outcomes_prefix, hour)
        if not events:
            delete_if_present(self.s3, self.bucket, key, listed_keys)
            return None, 0
        body = parquet_bytes(outcome_table(events), self.first_row_group)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
        return key, len(events)

    def read_watermark(self) -> Watermark | None:
        """The lake's watermark, or None before the first export."""
        return read_watermark(self.s3, self.bucket, self.prefix)

    def _advance(self, first: datetime, current: datetime, now: datetime, done: list[HourExport]) -> Watermark:
        # Hours before the current one were exported after they ended: complete. The coverage is one
        # unbroken span: after a gap (runs missed for longer than the hours exported) it starts again.
        previous = self.read_watermark()
        start = first
        if previous is not None and previous.first_hour <= first <= previous.complete_through:
            start = previous.first_hour
        through = max(current, previous.complete_through) if previous and start == previous.first_hour else current
        mark = Watermark(
            first_hour=start,
            complete_through=through,
            exported_at=now,
            last_hours=[h.hour for h in done],
            last_rows=sum(h.rows for h in done),
        )
        return self.write_watermark(mark)

    def write_watermark(self, mark: Watermark) -> Watermark:
        """Put the watermark in the lake."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=watermark_key(self.prefix),
            Body=mark.model_dump_json().encode(),
            ContentType="application/json",
        )
        return mark


def delete_if_present(s3: Any, bucket: str, key: str, listed_keys: set[str] | None = None) -> None:
    """Delete an hour's object that has no events left (erased): only if it exists, so no delete marker is left.

    `listed_keys`: the keys listed already (a whole day's); otherwise the key is listed first.
    """
    if listed_keys is None:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
        listed_keys = {o["Key"] for o in listed}
    if key in listed_keys:
        s3.delete_object(Bucket=bucket, Key=key)


def parquet_bytes(table: Any, first_row_group: int = 1_000) -> bytes:
    """An hour's table (sorted by sample key) as Parquet, in row groups of doubling size.

    A window's sample needs the first k/hours rows of each hour: a week's, a few hundred; a day's, two
    thousand. Small first groups let the footers' statistics skip nearly everything else; doubling
    keeps the count of groups (and the footer) small for an hour of any size.
    """
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, compression="zstd") as writer:
        offset, size = 0, first_row_group
        while offset < table.num_rows:
            writer.write_table(table.slice(offset, size), row_group_size=size)
            offset, size = offset + size, size * 2
    return buf.getvalue()


def read_watermark(s3: Any, bucket: str, prefix: str = DEFAULT_PREFIX) -> Watermark | None:
    """The watermark the export wrote, or None when there is none yet."""
    key = watermark_key(prefix)
    # Listed first: a GetObject of a missing key is a 404 only with ListBucket on the whole bucket, and
    # the roles may list the lake's prefix only (a 403 would then fail every run before the first export).
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(o["Key"] == key for o in listed):
        return None
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Watermark.model_validate(json.loads(body))
