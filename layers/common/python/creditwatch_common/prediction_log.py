"""The prediction log in DynamoDB: key design, records, resilient writes and windowed reads.

Key design (one table, no index needed):
  pk = "LOG#<yyyy-mm-dd>#<shard>"   day bucket x shard: writes of one day spread over `shards`
                                     partitions; a time window is read with day x shard queries.
  sk = "<ISO-8601 ms>Z#<id>"        sorts by time, so a window is one `BETWEEN` per partition.
The id is a UUIDv7: it embeds its millisecond, so pk and sk of any record follow from its id
(one GetItem by id, no index). Records expire through the `expires_at` TTL attribute.

`features` is stored as one compact JSON string rather than a DynamoDB map: nothing queries inside
it, it is as small, and serialising a 1,000-application batch costs a fraction (bench/).
Records written as maps by earlier versions still read back the same.
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from creditwatch_common.dynamo_json import deserialize, serialize
from creditwatch_common.ids import iso_millis, uuid7, uuid7_millis

RecordKind = Literal["request", "application"]
BATCH_WRITE_LIMIT = 25
SQS_BATCH_LIMIT = 10


class LogRecord(BaseModel):
    """One line of the prediction log: a request, or one application of a batch request."""

    prediction_id: str = Field(default_factory=uuid7)
    request_id: str
    kind: RecordKind = "request"
    route: str
    method: str = "POST"
    status: int
    latency_ms: float
    model_version: str
    features: dict[str, Any] | None = None
    probability_good: float | None = None
    prediction: int | None = None
    decision: str | None = None
    risk_level: str | None = None
    error_class: str | None = None
    error_detail: str | None = None
    raw_body: str | None = None  # the rejected request body (truncated), so bad input is not lost
    batch_size: int | None = None
    batch_index: int | None = None
    simulated: bool | None = None  # written by the local traffic simulator's fault scenarios only

    @property
    def millis(self) -> int:
        """Unix milliseconds of the record, from its id."""
        return uuid7_millis(self.prediction_id)

    @property
    def timestamp(self) -> str:
        """UTC ISO 8601 time of the record."""
        return iso_millis(self.millis)


def day_of(ms: int) -> str:
    """The UTC day bucket of a millisecond timestamp."""
    return iso_millis(ms)[:10]


def shard_of(prediction_id: str, shards: int) -> int:
    """Shard from the id's random tail (its last 8 hex digits), so writes spread evenly."""
    return int(prediction_id[-8:], 16) % shards


_compact_json = json.JSONEncoder(separators=(",", ":")).encode


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


def to_item(
    record: LogRecord | Mapping[str, Any],
    shards: int,
    ttl_days: int,
    common: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """DynamoDB item (attribute-value form) for a record, or for a dict of LogRecord's fields."""
    return to_items([record], shards, ttl_days, common)[0]


def to_items(
    records: Iterable[LogRecord | Mapping[str, Any]],
    shards: int,
    ttl_days: int,
    common: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """DynamoDB items for records; `common` holds attribute values every record shares."""
    # A batch builds a thousand items per request, hence the inlined scalar cases and the time
    # attributes built once per millisecond (a batch's ids share one). Attribute values are shared
    # between items: nothing mutates an item once built.
    ttl_s = ttl_days * 86400
    stamps: dict[str, tuple[str, dict[str, str], dict[str, str], list[dict[str, str] | None]]] = {}
    items = []
    for record in records:
        # The fields as they are (no model_dump copy): serialize() builds new containers anyway.
        fields = record.__dict__ if isinstance(record, LogRecord) else record
        # The record's own fields win over common ones, an explicit None included.
        item: dict[str, Any] = dict(common) if common else {}
        for k, v in fields.items():
            t = type(v)
            if t is str:
                item[k] = {"S": v}
            elif t is float:
                item[k] = {"N": repr(v)}
            elif t is int:
                item[k] = {"N": str(v)}
            elif v is None:
                if common:
                    item.pop(k, None)
            elif k == "features":
                item[k] = {"S": _compact_json(v)}
            else:
                item[k] = serialize(v)
        prediction_id = fields["prediction_id"]
        # A UUIDv7's first 12 hex digits are its millisecond: ids that share them share the time
        # attributes (and the first of them was checked to be a UUIDv7).
        stamp = stamps.get(prediction_id[:13])
        if stamp is None:
            ms = uuid7_millis(prediction_id)
            ts = iso_millis(ms)
            stamp = stamps[prediction_id[:13]] = (ts, {"S": ts}, {"N": str(ms // 1000 + ttl_s)}, [None] * shards)
        ts = stamp[0]
        shard = shard_of(prediction_id, shards)
        pk = stamp[3][shard]
        if pk is None:
            pk = stamp[3][shard] = {"S": partition_key(ts[:10], shard)}
        item["pk"] = pk
        item["sk"] = {"S": sort_key(ts, prediction_id)}
        item["ts"] = stamp[1]
        item["expires_at"] = stamp[2]
        items.append(item)
    return items


def to_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute-value form of plain fields (None dropped), for the fields a batch's records share."""
    return {k: serialize(v) for k, v in fields.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values from a DynamoDB item."""
    out = {k: deserialize(v) for k, v in item.items()}
    if isinstance(out.get("features"), str):
        out["features"] = json.loads(out["features"])
    return out


@dataclass
class WriteOutcome:
    """What happened to the records of one write call; nothing is ever silently dropped."""

    written: int = 0
    spilled: int = 0  # sent to the spill queue for replay
    logged_only: int = 0  # the spill queue failed too: the full record went to the error log
    errors: list[str] = field(default_factory=list)


@dataclass
class PredictionLog:
    """Writes and reads the prediction log, spilling to SQS what DynamoDB keeps refusing."""

    dynamodb: Any
    table: str
    shards: int = 16
    ttl_days: int = 90
    sqs: Any = None
    spill_queue_url: str | None = None
    max_attempts: int = 5
    base_delay_s: float = 0.05
    sleep: Callable[[float], None] = time.sleep
    on_last_resort: Callable[[dict[str, Any]], None] | None = None
    # BatchWriteItem calls in flight for one write: a 1,000-application batch is 41 calls, ~15 ms
    # each against DynamoDB, which in sequence would be most of the request's latency.
    write_workers: int = 8
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    # ---- writes -------------------------------------------------------------------------
    def write(
        self, records: Sequence[LogRecord | Mapping[str, Any]], common: Mapping[str, Any] | None = None
    ) -> WriteOutcome:
        """Write records (PutItem for one, BatchWriteItem for more), retrying, then spilling.

        `common` fields belong to every record (a batch's request id, route, status...).
        """
        shared = to_attributes(common) if common else None
        items = to_items(records, self.shards, self.ttl_days, shared)
        outcome = WriteOutcome()
        if not items:
            return outcome
        if len(items) == 1:
            failed = self._put_one(items[0], outcome)
        else:
            chunks = [items[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(items), BATCH_WRITE_LIMIT)]
            failed = []
            if len(chunks) == 1 or self.write_workers <= 1:
                for chunk in chunks:
                    failed.extend(self._batch_write(chunk, outcome))
            else:
                for chunk_failed, chunk_outcome in self._writers().map(self._batch_write_apart, chunks):
                    failed.extend(chunk_failed)
                    outcome.written += chunk_outcome.written
                    outcome.errors.extend(chunk_outcome.errors)
        if failed:
            self._spill(failed, outcome)
        return outcome

    def _writers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.write_workers, thread_name_prefix="log-write")
        return self._pool

    def _batch_write_apart(self, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], WriteOutcome]:
        # One outcome per chunk: chunks run on several threads, and their counts are summed after.
        outcome = WriteOutcome()
        return self._batch_write(items, outcome), outcome

    def _backoff(self, attempt: int) -> None:
        # Full jitter: spreads retries of concurrent Lambdas apart.
        self.sleep(random.uniform(0, self.base_delay_s * (2**attempt)))

    def _put_one(self, item: dict[str, Any], outcome: WriteOutcome) -> list[dict[str, Any]]:
        for attempt in range(self.max_attempts):
            try:
                self.dynamodb.put_item(TableName=self.table, Item=item)
                outcome.written += 1
                return []
            except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                outcome.errors.append(error_code(exc))
                if _is_permanent(exc):
                    break
                if attempt + 1 < self.max_attempts:
                    self._backoff(attempt)
        return [item]

    def _batch_write(self, items: list[dict[str, Any]], outcome: WriteOutcome) -> list[dict[str, Any]]:
        pending = items
        for attempt in range(self.max_attempts):
            try:
                resp = self.dynamodb.batch_write_item(
                    RequestItems={self.table: [{"PutRequest": {"Item": it}} for it in pending]}
                )
            except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                outcome.errors.append(error_code(exc))
                if _is_permanent(exc):
                    return pending
            else:
                unprocessed = [r["PutRequest"]["Item"] for r in resp.get("UnprocessedItems", {}).get(self.table, [])]
                outcome.written += len(pending) - len(unprocessed)
                pending = unprocessed
                if not pending:
                    return []
                outcome.errors.append("UnprocessedItems")
            if attempt + 1 < self.max_attempts:
                self._backoff(attempt)
        return pending

    def _spill(self, items: list[dict[str, Any]], outcome: WriteOutcome) -> None:
        unsent = items
        if self.sqs is not None and self.spill_queue_url:
            unsent = []
            for start in range(0, len(items), SQS_BATCH_LIMIT):
                chunk = items[start : start + SQS_BATCH_LIMIT]
                entries = [{"Id": str(i), "MessageBody": json.dumps(it)} for i, it in enumerate(chunk)]
                failed_ids: set[str] = {e["Id"] for e in entries}
                for attempt in range(self.max_attempts):
                    try:
                        resp = self.sqs.send_message_batch(
                            QueueUrl=self.spill_queue_url, Entries=[e for e in entries if e["Id"] in failed_ids]
                        )
                        failed_ids = {f["Id"] for f in resp.get("Failed", [])}
                    except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                        outcome.errors.append(f"spill:{error_code(exc)}")
                    if not failed_ids:
                        break
                    if attempt + 1 < self.max_attempts:
                        self._backoff(attempt)
                outcome.spilled += len(chunk) - len(failed_ids)
                unsent.extend(it for i, it in enumerate(chunk) if str(i) in failed_ids)
        # Last resort: the whole record in the function's log, which CloudWatch keeps.
        for it in unsent:
            outcome.logged_only += 1
            if self.on_last_resort is not None:
                self.on_last_resort(it)

    # ---- reads --------------------------------------------------------------------------
    def get(self, prediction_id: str) -> dict[str, Any] | None:
        """One record by id, or None."""
        resp = self.dynamodb.get_item(TableName=self.table, Key=_key_av(keys_for(prediction_id, self.shards)))
        item = resp.get("Item")
        return from_item(item) if item else None

    def partitions(self, start: datetime, end: datetime) -> list[str]:
        """Every partition key that can hold records of [start, end]."""
        days = []
        day = start.astimezone(UTC).date()
        while day <= end.astimezone(UTC).date():
            days.append(day.isoformat())
            day += timedelta(days=1)
        return [partition_key(d, s) for d in days for s in range(self.shards)]

    def query_window(
        self,
        start: datetime,
        end: datetime,
        *,
        kind: RecordKind | None = None,
        scored_only: bool = False,
        attributes: Iterable[str] | None = None,
        workers: int = 8,
    ) -> Iterator[dict[str, Any]]:
        """Every record with start <= time < end, by Query (never Scan), pages followed."""
        lo = iso_millis(int(start.timestamp() * 1000))
        hi = iso_millis(int(end.timestamp() * 1000) - 1) + "#~"
        names = {"#pk": "pk", "#sk": "sk"}
        filters = []
        values: dict[str, Any] = {":lo": {"S": lo}, ":hi": {"S": hi}}
        if kind is not None:
            names["#kind"] = "kind"
            values[":kind"] = {"S": kind}
            filters.append("#kind = :kind")
        if scored_only:
            names["#pg"] = "probability_good"
            filters.append("attribute_exists(#pg)")
        base: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": names,
        }
        if filters:
            base["FilterExpression"] = " AND ".join(filters)
        if attributes:
            projection = []
            for i, attr in enumerate(attributes):
                names[f"#a{i}"] = attr
                projection.append(f"#a{i}")
            base["ProjectionExpression"] = ", ".join(projection)

        yield from self._stream_pages(
            base, values, list(self.partitions(start, end - timedelta(milliseconds=1))), workers
        )

    def _stream_pages(
        self, base: dict[str, Any], values: dict[str, Any], partitions: list[str], workers: int
    ) -> Iterator[dict[str, Any]]:
        # Partitions are queried in parallel and their pages flow through a bounded queue, so memory
        # holds a few pages, never the window: a day at 1,000 requests a minute is 1.4M records.
        # Records come in no particular order.
        pages: queue.Queue[Any] = queue.Queue(maxsize=2 * max(1, workers))
        stop = threading.Event()
        finished = object()

        def put(value: Any) -> None:
            while not stop.is_set():
                try:
                    pages.put(value, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def one_partition(pk: str) -> None:
            kwargs = {**base, "ExpressionAttributeValues": {**values, ":pk": {"S": pk}}}
            try:
                while not stop.is_set():
                    resp = self.dynamodb.query(**kwargs)
                    if resp.get("Items"):
                        put(resp["Items"])
                    if "LastEvaluatedKey" not in resp:
                        break
                    kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
            except Exception as exc:  # noqa: BLE001 - handed to the reader, which raises it
                put(exc)
            put(finished)

        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        try:
            for pk in partitions:
                pool.submit(one_partition, pk)
            remaining = len(partitions)
            while remaining:
                got = pages.get()
                if got is finished:
                    remaining -= 1
                elif isinstance(got, Exception):
                    raise got
                else:
                    for item in got:
                        yield from_item(item)
        finally:
            # Also when the reader stops early or fails: the workers give up at their next page.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    # ---- replay -------------------------------------------------------------------------
    def replay_spilled(self, max_messages: int = 10_000) -> dict[str, int]:
        """Move spilled records from the spill queue back into the table; delete only what was written."""
        if self.sqs is None or not self.spill_queue_url:
            raise ValueError("no spill queue configured")
        replayed = failed = 0
        while replayed + failed < max_messages:
            resp = self.sqs.receive_message(
                QueueUrl=self.spill_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            for msg in messages:
                try:
                    # Idempotent: the same record replayed twice lands on the same key.
                    self.dynamodb.put_item(TableName=self.table, Item=json.loads(msg["Body"]))
                except Exception:  # noqa: BLE001 - left in the queue (14 days), counted as failed
                    failed += 1
                    continue
                self.sqs.delete_message(QueueUrl=self.spill_queue_url, ReceiptHandle=msg["ReceiptHandle"])
                replayed += 1
            if failed:
                break
        return {"replayed": replayed, "failed": failed}


def _key_av(key: dict[str, str]) -> dict[str, Any]:
    return {k: {"S": v} for k, v in key.items()}


_PERMANENT = {"ValidationException", "ResourceNotFoundException", "AccessDeniedException"}


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _is_permanent(exc: Exception) -> bool:
    """Errors that no retry will fix (the record still gets spilled)."""
    return error_code(exc) in _PERMANENT
