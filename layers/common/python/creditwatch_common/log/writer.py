"""Resilient writes of the prediction log: retries with jitter, then the SQS spill, then the function's log."""

from __future__ import annotations

import collections
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from creditwatch_common.aws import error_code, is_permanent
from creditwatch_common.log.items import column_items, to_attributes, to_items
from creditwatch_common.log.pending import PendingHours, hour_of_log_item
from creditwatch_common.records import LogRecord

BATCH_WRITE_LIMIT = 25
SQS_BATCH_LIMIT = 10


@dataclass
class WriteOutcome:
    """What happened to the records of one write call; nothing is ever silently dropped."""

    written: int = 0
    spilled: int = 0  # sent to the spill queue for replay
    logged_only: int = 0  # the spill queue failed too: the full record went to the error log
    errors: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """Where the least durable of the records went: written, spilled or logged-only."""
        if self.logged_only:
            return "logged-only"
        return "spilled" if self.spilled else "written"


NO_DEADLINE = math.inf


@dataclass
class LogWriter:
    """Writes the prediction log, spilling to SQS what DynamoDB keeps refusing; replays the spill.

    One place owns retries: the clients are meant to be built without botocore's own (see
    `aws.request_path_config`). Each write may be given a deadline (time.monotonic() seconds): DynamoDB
    attempts stop while one SQS attempt still fits, the spill stops while the last-resort log line
    still fits, so a write always ends by its deadline, whatever the services do.
    """

    dynamodb: Any
    table: str
    shards: int
    ttl_days: int = 90
    # Rejected requests (4xx/5xx) expire sooner; None: after ttl_days like the rest.
    rejected_ttl_days: int | None = None
    sqs: Any = None
    spill_queue_url: str | None = None
    max_attempts: int = 5
    base_delay_s: float = 0.05
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_last_resort: Callable[[dict[str, Any]], None] | None = None
    # The longest one call can take (the clients' connect + read timeouts): an attempt starts only
    # if it can end before its phase does.
    call_timeout_s: float = 3.0
    # What the last-resort log lines need after the spill gave up.
    last_resort_reserve_s: float = 0.05
    # BatchWriteItem calls in flight for one write: a 1,000-application batch is 41 calls, ~15 ms
    # each against DynamoDB, which in sequence would be most of the request's latency.
    write_workers: int = 8
    # How long a spilled record being replayed stays hidden from other replays.
    replay_visibility_s: int = 60
    # Mark the hours a replay wrote into for the lake export (log/pending.py); False: no lake to tell.
    mark_replayed_hours: bool = True
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    # ---- writes -------------------------------------------------------------------------
    def write(
        self,
        records: Sequence[LogRecord | Mapping[str, Any]],
        common: Mapping[str, Any] | None = None,
        deadline: float = NO_DEADLINE,
        columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> WriteOutcome:
        """Write records (PutItem for one, BatchWriteItem for more), retrying, then spilling, by `deadline`.

        `common` fields belong to every record (a batch's request id, route, status...); `columns`: more
        records, a field at a time (items.column_items: how a batch's applications come).
        """
        shared = to_attributes(common) if common else None
        items = to_items(records, self.shards, self.ttl_days, shared, self.rejected_ttl_days)
        if columns:
            items += column_items(columns, self.shards, self.ttl_days, shared, self.rejected_ttl_days)
        outcome = WriteOutcome()
        if not items:
            return outcome
        spill_by = deadline - self.last_resort_reserve_s
        # With a spill queue, DynamoDB gives way in time for one SQS attempt.
        store_by = spill_by - (self.call_timeout_s if self.sqs is not None and self.spill_queue_url else 0.0)
        if len(items) == 1:
            failed = self._put_one(items[0], outcome, store_by)
        else:
            chunks = [items[start : start + BATCH_WRITE_LIMIT] for start in range(0, len(items), BATCH_WRITE_LIMIT)]
            failed = []
            if len(chunks) == 1 or self.write_workers <= 1:
                for chunk in chunks:
                    failed.extend(self._batch_write(chunk, outcome, store_by))
            else:
                for chunk_failed, chunk_outcome in self._write_in_parallel(chunks, store_by):
                    failed.extend(chunk_failed)
                    outcome.written += chunk_outcome.written
                    outcome.errors.extend(chunk_outcome.errors)
        if failed:
            self._spill(failed, outcome, spill_by)
        return outcome

    def _write_in_parallel(
        self, chunks: list[list[dict[str, Any]]], by: float
    ) -> list[tuple[list[dict[str, Any]], WriteOutcome]]:
        """Each chunk's unwritten items and outcome, written by up to write_workers threads, this one among them.

        Every thread takes the next chunk until none is left: one task per helper thread rather than one
        per chunk (41 futures and their hand-offs were a twentieth of a 1,000-application batch).
        """
        pending = collections.deque(enumerate(chunks))
        results: list[tuple[list[dict[str, Any]], WriteOutcome]] = [([], WriteOutcome())] * len(chunks)

        def drain() -> None:
            while True:
                try:
                    i, chunk = pending.popleft()  # atomic: one thread gets each chunk
                except IndexError:
                    return
                results[i] = self._batch_write_apart(chunk, by)

        helpers = [self._writers().submit(drain) for _ in range(min(self.write_workers, len(chunks)) - 1)]
        drain()
        for helper in helpers:
            helper.result()
        return results

    def _writers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.write_workers, thread_name_prefix="log-write")
        return self._pool

    def _batch_write_apart(self, items: list[dict[str, Any]], by: float) -> tuple[list[dict[str, Any]], WriteOutcome]:
        # One outcome per chunk: chunks run on several threads, and their counts are summed after.
        outcome = WriteOutcome()
        return self._batch_write(items, outcome, by), outcome

    def _fits(self, by: float) -> bool:
        """Whether one more call can end by `by`."""
        return self.clock() + self.call_timeout_s <= by

    def _backoff(self, attempt: int, by: float) -> bool:
        """Sleep before the next attempt (full jitter); False if no attempt would fit after it."""
        delay = random.uniform(0, self.base_delay_s * (2**attempt))
        if self.clock() + delay + self.call_timeout_s > by:
            return False
        self.sleep(delay)
        return True

    def _put_one(self, item: dict[str, Any], outcome: WriteOutcome, by: float) -> list[dict[str, Any]]:
        for attempt in range(self.max_attempts):
            if not self._fits(by):
                outcome.errors.append("deadline")
                break
            try:
                self.dynamodb.put_item(TableName=self.table, Item=item)
                outcome.written += 1
                return []
            except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                outcome.errors.append(error_code(exc))
                if is_permanent(exc):
                    break
            if attempt + 1 < self.max_attempts and not self._backoff(attempt, by):
                break
        return [item]

    def _batch_write(self, items: list[dict[str, Any]], outcome: WriteOutcome, by: float) -> list[dict[str, Any]]:
        pending = items
        for attempt in range(self.max_attempts):
            if not self._fits(by):
                outcome.errors.append("deadline")
                break
            try:
                resp = self.dynamodb.batch_write_item(
                    RequestItems={self.table: [{"PutRequest": {"Item": it}} for it in pending]}
                )
            except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                outcome.errors.append(error_code(exc))
                if is_permanent(exc):
                    return pending
            else:
                unprocessed = [r["PutRequest"]["Item"] for r in resp.get("UnprocessedItems", {}).get(self.table, [])]
                outcome.written += len(pending) - len(unprocessed)
                pending = unprocessed
                if not pending:
                    return []
                outcome.errors.append("UnprocessedItems")
            if attempt + 1 < self.max_attempts and not self._backoff(attempt, by):
                break
        return pending

    def _spill(self, items: list[dict[str, Any]], outcome: WriteOutcome, by: float) -> None:
        unsent = items
        if self.sqs is not None and self.spill_queue_url:
            chunks = [items[start : start + SQS_BATCH_LIMIT] for start in range(0, len(items), SQS_BATCH_LIMIT)]
            # In parallel, as the table writes are: a large batch with little time left would otherwise
            # reach the spill one SendMessageBatch at a time and land mostly in the last-resort log.
            if len(chunks) == 1 or self.write_workers <= 1:
                results = [self._spill_chunk(chunk, by) for chunk in chunks]
            else:
                results = list(self._writers().map(lambda chunk: self._spill_chunk(chunk, by), chunks))
            unsent = []
            for spilled, refused, errors in results:
                outcome.spilled += spilled
                outcome.errors.extend(errors)
                unsent.extend(refused)
        # Last resort: the whole record in the function's log, which CloudWatch keeps.
        for it in unsent:
            outcome.logged_only += 1
            if self.on_last_resort is not None:
                self.on_last_resort(it)

    def _spill_chunk(self, chunk: list[dict[str, Any]], by: float) -> tuple[int, list[dict[str, Any]], list[str]]:
        """Send up to 10 items to the spill queue by `by`: how many went, the items that did not, the errors."""
        entries = [{"Id": str(i), "MessageBody": json.dumps(it)} for i, it in enumerate(chunk)]
        failed_ids: set[str] = {e["Id"] for e in entries}
        errors: list[str] = []
        for attempt in range(self.max_attempts):
            if not self._fits(by):
                errors.append("spill:deadline")
                break
            try:
                resp = self.sqs.send_message_batch(
                    QueueUrl=self.spill_queue_url, Entries=[e for e in entries if e["Id"] in failed_ids]
                )
                failed_ids = {f["Id"] for f in resp.get("Failed", [])}
            except Exception as exc:  # noqa: BLE001 - botocore's errors, imported lazily
                errors.append(f"spill:{error_code(exc)}")
            if not failed_ids:
                break
            if attempt + 1 < self.max_attempts and not self._backoff(attempt, by):
                break
        refused = [it for i, it in enumerate(chunk) if str(i) in failed_ids]
        return len(chunk) - len(refused), refused, errors

    # ---- replay -------------------------------------------------------------------------
    def replay_spilled(self, max_messages: int = 10_000, deadline: float = NO_DEADLINE) -> dict[str, int]:
        """Move spilled records from the spill queue back into the table; delete only what was written.

        Idempotent: a record replayed twice lands on the same key, so it stays one item. A message that
        cannot be written, or whose delete fails, stays in the queue (and comes back, or goes to the
        queue's dead-letter queue after its receive count); the others go on.

        A replayed record keeps its own time, often hours before the lake export's recent hours: each
        batch marks the hours it wrote into (`PendingHours`, items of this same table) after writing
        the records and before deleting their messages, and the next export rewrites those hours. A
        record whose hour could not be marked stays queued too, so no replayed record misses the lake.
        """
        if self.sqs is None or not self.spill_queue_url:
            raise ValueError("no spill queue configured")
        pending = PendingHours(self.dynamodb, self.table) if self.mark_replayed_hours else None
        replayed = failed = 0
        while replayed + failed < max_messages and self._fits(deadline):
            resp = self.sqs.receive_message(
                QueueUrl=self.spill_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=self.replay_visibility_s,
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            written: list[tuple[dict[str, Any], datetime | None]] = []
            for msg in messages:
                try:
                    item = json.loads(msg["Body"])
                    self.dynamodb.put_item(TableName=self.table, Item=item)
                except Exception:  # noqa: BLE001 - left in the queue (14 days), counted as failed
                    failed += 1
                    continue
                written.append((msg, hour_of_log_item(item)))
            unmarked: set[datetime] = set()
            if pending is not None:
                for marked in sorted({h for _, h in written if h is not None}):
                    try:
                        pending.mark(marked)
                    except Exception:  # noqa: BLE001 - its records stay queued: the next replay marks again
                        unmarked.add(marked)
            for msg, hour in written:
                if hour is not None and hour in unmarked:
                    failed += 1
                    continue
                try:
                    self.sqs.delete_message(QueueUrl=self.spill_queue_url, ReceiptHandle=msg["ReceiptHandle"])
                except Exception:  # noqa: BLE001 - written; the message comes back and is written again, harmlessly
                    failed += 1
                    continue
                replayed += 1
            if failed:
                break
        return {"replayed": replayed, "failed": failed}
