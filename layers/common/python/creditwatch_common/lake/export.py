"""The hourly export: each recent hour of the table read by its time-sorted keys, written whole as Parquet.

An hour's object has one key (`predictions/dt=YYYY-MM-DD/hour=HH/part-0.parquet`) and is rewritten
whole from the table on every export that covers the hour: a re-run replaces, never duplicates, and a
record that reached the table late (a spill replay) is in the lake after the next export of its hour.
The outcome events recorded in the same hour go to `outcomes/dt=.../hour=.../part-0.parquet` the same
way (creditwatch_common/lake/outcomes.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
from pydantic import BaseModel

from creditwatch_common.ids import iso_utc
from creditwatch_common.lake.outcomes import OUTCOMES_PREFIX, outcome_table
from creditwatch_common.lake.schema import SCHEMA_VERSION, LakeSchema
from creditwatch_common.log.outcomes import outcome_events
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


class HourExport(BaseModel):
    """One hour written."""

    hour: str
    key: str
    rows: int
    bytes: int
    # The outcome events recorded in the hour (0 and no object when none).
    outcome_key: str | None = None
    outcome_rows: int = 0


class ExportResult(BaseModel):
    """What one export did."""

    status: str = "ok"
    bucket: str
    hours: list[HourExport]
    rows: int
    watermark: Watermark
    outcome_rows: int = 0


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

    def export(self, hours: int, now: datetime | None = None) -> ExportResult:
        """Export the last `hours` hours, the current one included, then move the watermark."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        current = hour_floor(now)
        first = current - (hours - 1) * HOUR
        done = [self.export_hour(first + i * HOUR) for i in range(hours)]
        watermark = self._advance(first, current, now, done)
        return ExportResult(
            bucket=self.bucket,
            hours=done,
            rows=sum(h.rows for h in done),
            watermark=watermark,
            outcome_rows=sum(h.outcome_rows for h in done),
        )

    def export_hour(self, hour: datetime) -> HourExport:
        """Rewrite one hour's object from the table (nothing written for an hour without records)."""
        hour = hour_floor(hour)
        records = [r.values for r in self.reader.query_window(hour, hour + HOUR, ExportRow, workers=self.workers)]
        key = hour_key(self.prefix, hour)
        outcome_key, outcome_rows = self.export_outcomes_hour(hour)
        if not records:
            return HourExport(
                hour=iso_utc(hour), key=key, rows=0, bytes=0, outcome_key=outcome_key, outcome_rows=outcome_rows
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
        )

    def export_outcomes_hour(self, hour: datetime) -> tuple[str | None, int]:
        """Rewrite the object of the outcome events recorded in one hour: its key and rows (none when empty)."""
        if self.outcomes_prefix is None:
            return None, 0
        hour = hour_floor(hour)
        events = list(outcome_events(self.reader, hour, hour + HOUR, workers=self.workers))
        key = hour_key(self.outcomes_prefix, hour)
        if not events:
            # An hour whose events were all erased (creditwatch log erase) must not keep its old object;
            # listed first, so that the empty hours of every run leave no delete markers behind.
            listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            if any(o["Key"] == key for o in listed):
                self.s3.delete_object(Bucket=self.bucket, Key=key)
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
        self.s3.put_object(
            Bucket=self.bucket,
            Key=watermark_key(self.prefix),
            Body=mark.model_dump_json().encode(),
            ContentType="application/json",
        )
        return mark


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
