"""A backfill: every hour of a past span written to the lake, each UTC day read from the table in one pass.

`lake export` rewrites the recent hours and refuses any hour older than the table's shortest TTL
(RejectedTtlDays, 30 days): the table may have forgotten records of such an hour, and the watermark
would then claim the lake holds it completely. A backfill writes the hours of [start, end) day by day
(one Query per day and shard, not per hour): the days younger than the TTL exactly as an export does
(predictions and outcome events, each hour's objects rewritten whole), and a day with hours past the
TTL only when the table holds simulated records of it and **every record of its hours past the TTL
is simulated** (request id
`simulated-history-...`, what `creditwatch simulate --history` writes). Such records exist only on a
local stack (the simulator refuses any other endpoint), whose moto table applies no TTL: it still holds
every record of those hours, so the lake's claim to hold them completely is true. (The day's hours
younger than the TTL may hold any record: they are exported as usual.) Their hours are
merged into the lake's objects (LakeExporter.merge_hour: no row the lake holds is dropped) and their
outcomes objects left as they are. A day past the TTL with no simulated record, or one real record in those hours, is
refused (RewriteRefused, naming the day and the limit) before any hour of it is written; the other
days may be written (each checked on its own) and the watermark is not moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from creditwatch_analytics.lake.export import (
    HOUR,
    HourExport,
    LakeExporter,
    RewriteRefused,
    Watermark,
    hour_floor,
    hour_key,
)
from creditwatch_analytics.lake.reviews import REVIEWS_PREFIX, review_events
from creditwatch_common.ids import iso_utc
from creditwatch_common.log.outcomes import outcome_events
from creditwatch_common.records import ExportRow

# The request id prefix of a simulated record (creditwatch.labelled_history.REQUEST_ID_PREFIX, which the
# local tools own; the image cannot import them).
SIMULATED_REQUEST_ID_PREFIX = "simulated-history-"
DAY = timedelta(days=1)
# Days read and written at once (each with the exporter's own workers for its Queries).
DAYS_AT_ONCE = 4

Progress = Callable[[int, int], None]


class BackfillResult(BaseModel):
    """What one backfill wrote."""

    status: str = "ok"
    bucket: str
    start: datetime
    end: datetime
    days: int
    hours: list[HourExport]
    rows: int
    outcome_rows: int
    # Days with hours past the table's TTL, written because every record of them is simulated.
    simulated_days: list[str]
    watermark: Watermark


def is_simulated(record: dict[str, Any]) -> bool:
    """Whether a record was written by the history simulator (its request id says so)."""
    return str(record.get("request_id") or "").startswith(SIMULATED_REQUEST_ID_PREFIX)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def days_of(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights: the spans each read covers."""
    spans, lo = [], start
    while lo < end:
        midnight = lo.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
        spans.append((lo, min(midnight, end)))
        lo = midnight
    return spans


def backfill(
    exporter: LakeExporter,
    start: datetime,
    end: datetime,
    progress: Progress | None = None,
    days_at_once: int = DAYS_AT_ONCE,
) -> BackfillResult:
    """Write every hour of [start, end) (whole hours, up to the current one) day by day; see the module docstring.

    ValueError for an empty span; RewriteRefused for a day past the TTL that is not all simulated (the
    days in flight finish; the watermark is not moved). `progress(days done, days)` after each day.
    """
    now = exporter.clock().astimezone(UTC)
    first = hour_floor(start)
    stop = min(hour_floor(end - timedelta(microseconds=1)) + HOUR, hour_floor(now) + HOUR)
    if stop <= first:
        raise ValueError(f"nothing to backfill between {iso_utc(start)} and {iso_utc(end)} (and now, {iso_utc(now)})")
    spans = days_of(first, stop)
    written: list[HourExport] = []
    simulated_days: list[str] = []
    # Days in parallel: each is a few Queries and many small PUTs, latency more than work.
    with ThreadPoolExecutor(max_workers=max(1, days_at_once)) as pool:
        futures = [pool.submit(_day, exporter, lo, hi) for lo, hi in spans]
        failed: BaseException | None = None
        for done, future in enumerate(as_completed(futures), start=1):
            try:
                hours, simulated = future.result()
            except Exception as exc:  # noqa: BLE001 - raised once the days in flight are done
                failed = failed or exc
                continue
            written += hours
            simulated_days += simulated
            if progress is not None:
                progress(done, len(spans))
    if failed is not None:
        raise failed
    written.sort(key=lambda h: h.hour)
    mark = _span(exporter, first, min(stop, hour_floor(now)), now, written)
    return BackfillResult(
        bucket=exporter.bucket,
        start=first,
        end=stop,
        days=len(spans),
        hours=[h for h in written if h.rows or h.outcome_rows],
        rows=sum(h.rows for h in written),
        outcome_rows=sum(h.outcome_rows for h in written),
        simulated_days=sorted(simulated_days),
        watermark=mark,
    )


def _day(exporter: LakeExporter, lo: datetime, hi: datetime) -> tuple[list[HourExport], list[str]]:
    """Write the hours of [lo, hi), one UTC day at most: its hours written and whether it was simulated history."""
    hours = [lo + i * HOUR for i in range(int((hi - lo) / HOUR))]
    expired = [h for h in hours if not exporter.rebuildable(h)]
    records: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in exporter.reader.query_window(lo, hi, ExportRow, workers=exporter.workers):
        records[hour_floor(_time(row.values["ts"]))].append(row.values)
    written: list[HourExport] = []
    if expired:
        _check_simulated(exporter, lo, records, expired)
        day = f"{exporter.prefix}/dt={lo:%Y-%m-%d}/"
        listed = exporter.s3.list_objects_v2(Bucket=exporter.bucket, Prefix=day).get("Contents", [])
        predictions_in_lake = {o["Key"] for o in listed}
        for h in expired:
            if records.get(h):
                in_lake = hour_key(exporter.prefix, h) in predictions_in_lake
                written.append(exporter.merge_hour(h, records[h], in_lake=in_lake))
    fresh = [h for h in hours if h not in expired]
    events: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    reviews: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    listed_keys: set[str] = set()
    if fresh and exporter.outcomes_prefix is not None:
        # The day's outcome and review events read, and its objects listed, once (not per hour).
        for event in outcome_events(exporter.reader, fresh[0], hi, workers=exporter.workers):
            events[hour_floor(_time(event["recorded_at"]))].append(event)
        for event in review_events(exporter.reader, fresh[0], hi, exporter.workers):
            reviews[hour_floor(_time(event["decided_at"]))].append(event)
        for prefix in (exporter.outcomes_prefix, REVIEWS_PREFIX):
            pages = exporter.s3.get_paginator("list_objects_v2").paginate(
                Bucket=exporter.bucket, Prefix=f"{prefix}/dt={lo:%Y-%m-%d}/"
            )
            listed_keys.update(o["Key"] for page in pages for o in page.get("Contents", []))
    for h in fresh:
        hour_events, hour_reviews = events.get(h, []), reviews.get(h, [])
        written.append(exporter.export_hour(h, records.get(h, []), hour_events, hour_reviews, listed_keys))
    return written, [f"{lo:%Y-%m-%d}"] if expired else []


def _check_simulated(
    exporter: LakeExporter, day: datetime, records: dict[datetime, list[dict[str, Any]]], expired: list[datetime]
) -> None:
    """RewriteRefused unless the table holds simulated records of the day and no other in its hours past the TTL."""
    limit = exporter.rebuild_limit()
    assert limit is not None  # an hour is past the TTL only when there is one
    days, name = limit
    real = next((r for h in expired for r in records.get(h, []) if not is_simulated(r)), None)
    shown = any(is_simulated(r) for hour in records.values() for r in hour)
    if shown and real is None:
        return
    why = (
        f"it holds a record that is not simulated (prediction {real['prediction_id']})"
        if real is not None
        else "the table holds no simulated record of it"
    )
    raise RewriteRefused(
        f"refused: {day:%Y-%m-%d} has hours older than {days} day(s) ago ({name}={days}, the shortest TTL of the "
        f"table) and {why}: records of it may have expired from the table; a backfill rebuilds such a day only "
        f"from simulated history (request id {SIMULATED_REQUEST_ID_PREFIX}...)",
        days,
    )


def _span(
    exporter: LakeExporter, first: datetime, through: datetime, now: datetime, written: list[HourExport]
) -> Watermark:
    """The watermark with the backfilled hours: one span with the lake's when they meet, else the newer span."""
    previous = exporter.read_watermark()
    start, end = first, max(through, first)
    if previous is not None:
        if previous.first_hour <= end and start <= previous.complete_through:
            start, end = min(start, previous.first_hour), max(end, previous.complete_through)
        elif previous.complete_through > end:
            return previous
    return exporter.write_watermark(
        Watermark(
            first_hour=start,
            complete_through=end,
            exported_at=now,
            last_hours=[h.hour for h in written if h.rows],
            last_rows=sum(h.rows for h in written),
        )
    )
