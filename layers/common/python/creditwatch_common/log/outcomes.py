"""Outcomes written to the prediction log: per item, one conditional transaction, retried within a deadline.

Each outcome is written as one TransactWriteItems of two actions (creditwatch_common/outcomes.py says
why both): an UpdateItem of the prediction's item, conditional on the state it was read in (no outcome
yet, or the very outcome a correction replaces), and a Put of the append-only event item, conditional
on its key being new. A condition that fails means another writer got there first: the item is read
again and decided again. Reads are one BatchGetItem per 100 items (consistent), writes run on a few
threads, and every call starts only if it can end by the deadline; an item that could not be decided
and written in time is answered `unavailable` (the route turns that into a 503: a retry of the whole
request is safe, since an outcome already stored answers `unchanged`). Nothing is dropped silently.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from creditwatch_common.aws import error_code, is_permanent
from creditwatch_common.ids import iso_millis
from creditwatch_common.log.keys import key_attributes, keys_for
from creditwatch_common.log.reader import LogReader
from creditwatch_common.log.writer import NO_DEADLINE
from creditwatch_common.outcomes import Outcome, OutcomeStatus, outcome_event_keys, outcome_partition_key

# The version of the event item's (and the lake row's) fields.
OUTCOME_SCHEMA_VERSION = 1
BATCH_GET_LIMIT = 100
# The prediction item's attributes an outcome decision needs.
_READ = ("sk", "decision", "status", "ts", "outcome", "outcome_observed_at", "outcome_recorded_at")
# What an item's write may answer: the route's statuses, or `unavailable` when the deadline came first.
WriteStatus = OutcomeStatus | Literal["unavailable"]


@dataclass(frozen=True, slots=True)
class OutcomeInput:
    """One outcome as the route validated it."""

    prediction_id: str
    outcome: Outcome
    observed_at: datetime
    correction: bool = False


@dataclass(frozen=True, slots=True)
class OutcomeResult:
    """What happened to one outcome, and the outcome the prediction holds now (None if none or unknown)."""

    prediction_id: str
    status: WriteStatus
    outcome: Outcome | None


@dataclass(frozen=True, slots=True)
class _Stored:
    """A prediction item's state as far as outcomes are concerned."""

    scored: bool
    outcome: Outcome | None
    observed_at: str | None
    recorded_at: str | None
    ts: str | None


def _state(item: dict[str, Any] | None) -> _Stored | None:
    if not item:
        return None
    status = int(item["status"]["N"]) if "status" in item else 0
    outcome = item.get("outcome", {}).get("S")
    return _Stored(
        # A decision that was answered: a rejected request, or a batch's request item, has none.
        scored="decision" in item and status < 400,
        outcome=outcome if outcome in ("good", "bad") else None,
        observed_at=item.get("outcome_observed_at", {}).get("S"),
        recorded_at=item.get("outcome_recorded_at", {}).get("S"),
        ts=item.get("ts", {}).get("S"),
    )


def iso_of(dt: datetime) -> str:
    """A datetime as the log writes times: UTC ISO 8601 with milliseconds and a Z."""
    return iso_millis(int(dt.astimezone(UTC).timestamp() * 1000))


class _Unavailable(Exception):
    """No attempt fits before the deadline any more."""


@dataclass
class OutcomeWriter:
    """Attaches outcomes to logged predictions (see the module's docstring); thread-safe clients expected."""

    dynamodb: Any
    table: str
    shards: int
    # Event items expire with the log (the lake keeps them for years).
    ttl_days: int = 90
    max_attempts: int = 5
    base_delay_s: float = 0.05
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    # The longest one call can take (connect + read timeouts of the request-path clients).
    call_timeout_s: float = 3.0
    workers: int = 8
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def record(self, outcomes: Sequence[OutcomeInput], deadline: float = NO_DEADLINE) -> list[OutcomeResult]:
        """Store each outcome (ids must be distinct UUIDv7s); one result per outcome, in order."""
        ids = [o.prediction_id for o in outcomes]
        if len(set(ids)) != len(ids):
            raise ValueError("prediction ids must be distinct within one call")
        try:
            read = self._read(ids, deadline)
        except _Unavailable:
            return [OutcomeResult(o.prediction_id, "unavailable", None) for o in outcomes]
        if len(outcomes) <= 1 or self.workers <= 1:
            return [self._one(o, read.get(o.prediction_id, _MISSING), deadline) for o in outcomes]
        pool = self._workers()
        return list(pool.map(lambda o: self._one(o, read.get(o.prediction_id, _MISSING), deadline), outcomes))

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="outcomes")
        return self._pool

    def _fits(self, by: float) -> bool:
        return self.clock() + self.call_timeout_s <= by

    def _backoff(self, attempt: int, by: float) -> None:
        delay = random.uniform(0, self.base_delay_s * (2**attempt))
        if self.clock() + delay + self.call_timeout_s > by:
            raise _Unavailable
        self.sleep(delay)

    # ---- reads --------------------------------------------------------------------------
    def _read(self, ids: list[str], by: float) -> dict[str, _Stored | None]:
        """Each id's item state, by BatchGetItem (consistent); ids whose read did not finish are left out."""
        found: dict[str, _Stored | None] = {}
        keys = {i: key_attributes(keys_for(i, self.shards)) for i in ids}
        by_sk = {k["sk"]["S"]: i for i, k in keys.items()}
        names = {f"#a{n}": a for n, a in enumerate(_READ)}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            pending = [keys[i] for i in ids[start : start + BATCH_GET_LIMIT]]
            for attempt in range(self.max_attempts):
                if not pending or not self._fits(by):
                    break
                request = {
                    "Keys": pending,
                    "ConsistentRead": True,
                    "ProjectionExpression": ", ".join(names),
                    "ExpressionAttributeNames": names,
                }
                try:
                    resp = self.dynamodb.batch_get_item(RequestItems={self.table: request})
                except Exception as exc:
                    if is_permanent(exc):
                        raise
                else:
                    unprocessed = resp.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
                    for item in resp.get("Responses", {}).get(self.table, []):
                        found[by_sk[item["sk"]["S"]]] = _state(item)
                    waiting = {k["sk"]["S"] for k in unprocessed}
                    for key in pending:
                        i = by_sk[key["sk"]["S"]]
                        if i not in found and key["sk"]["S"] not in waiting:
                            found[i] = None  # no such item
                    pending = unprocessed
                if pending and attempt + 1 < self.max_attempts:
                    try:
                        self._backoff(attempt, by)
                    except _Unavailable:
                        break
        return found

    def _get(self, prediction_id: str, by: float) -> _Stored | None:
        names = {f"#a{n}": a for n, a in enumerate(_READ)}
        for attempt in range(self.max_attempts):
            if not self._fits(by):
                raise _Unavailable
            try:
                resp = self.dynamodb.get_item(
                    TableName=self.table,
                    Key=key_attributes(keys_for(prediction_id, self.shards)),
                    ConsistentRead=True,
                    ProjectionExpression=", ".join(names),
                    ExpressionAttributeNames=names,
                )
                return _state(resp.get("Item"))
            except Exception as exc:
                if is_permanent(exc):
                    raise
            if attempt + 1 < self.max_attempts:
                self._backoff(attempt, by)
        raise _Unavailable

    # ---- one outcome --------------------------------------------------------------------
    def _one(self, o: OutcomeInput, first: _Stored | object | None, by: float) -> OutcomeResult:
        # Stamps of attempts whose fate is unknown (a timeout may have committed them).
        mine: dict[str, WriteStatus] = {}
        recorded_ms = self.now_ms()
        state = first
        try:
            for attempt in range(self.max_attempts):
                if state is _MISSING:
                    state = self._get(o.prediction_id, by)
                assert state is None or isinstance(state, _Stored)
                if state is None or not state.scored:
                    return OutcomeResult(o.prediction_id, "unknown_prediction", None)
                if state.recorded_at in mine:
                    # An earlier attempt of ours committed after all.
                    return OutcomeResult(o.prediction_id, mine[state.recorded_at], state.outcome)
                if state.outcome == o.outcome:
                    return OutcomeResult(o.prediction_id, "unchanged", state.outcome)
                if state.outcome is not None and not o.correction:
                    return OutcomeResult(o.prediction_id, "conflict", state.outcome)
                status: WriteStatus = "corrected" if state.outcome is not None else "recorded"
                if not self._fits(by):
                    raise _Unavailable
                stamp = iso_millis(recorded_ms)
                try:
                    self.dynamodb.transact_write_items(TransactItems=self._actions(o, state, recorded_ms))
                    return OutcomeResult(o.prediction_id, status, o.outcome)
                except Exception as exc:
                    code = error_code(exc)
                    response = getattr(exc, "response", None) or {}
                    reasons = [r.get("Code") for r in response.get("CancellationReasons", [])]
                    if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                        # Definitely not written: someone else changed the item (or took this event key).
                        recorded_ms = max(recorded_ms + 1, self.now_ms())
                    elif is_permanent(exc):
                        raise
                    else:
                        mine[stamp] = status
                state = _MISSING
                if attempt + 1 < self.max_attempts:
                    self._backoff(attempt, by)
            # Every attempt used: one last look tells whether an uncertain one landed.
            state = self._get(o.prediction_id, by)
            if state is not None and state.recorded_at in mine:
                return OutcomeResult(o.prediction_id, mine[state.recorded_at], state.outcome)
        except _Unavailable:
            pass
        return OutcomeResult(o.prediction_id, "unavailable", None)

    def _actions(self, o: OutcomeInput, state: _Stored, recorded_ms: int) -> list[dict[str, Any]]:
        recorded_at = iso_millis(recorded_ms)
        observed_at = iso_of(o.observed_at)
        key = key_attributes(keys_for(o.prediction_id, self.shards))
        values: dict[str, Any] = {
            ":o": {"S": o.outcome},
            ":obs": {"S": observed_at},
            ":rec": {"S": recorded_at},
        }
        names = {"#o": "outcome", "#obs": "outcome_observed_at", "#rec": "outcome_recorded_at"}
        update = "SET #o = :o, #obs = :obs, #rec = :rec"
        if state.outcome is None:
            names["#d"] = "decision"
            condition = "attribute_exists(#d) AND attribute_not_exists(#o)"
        else:
            # The correction replaces exactly the outcome it was decided on; the old one joins the history.
            names["#h"] = "outcome_history"
            values[":prev"] = {"S": state.outcome}
            values[":prevrec"] = {"S": state.recorded_at or ""}
            values[":empty"] = {"L": []}
            values[":old"] = {
                "L": [
                    {
                        "M": {
                            "outcome": {"S": state.outcome},
                            "observed_at": {"S": state.observed_at or ""},
                            "recorded_at": {"S": state.recorded_at or ""},
                        }
                    }
                ]
            }
            update += ", #h = list_append(if_not_exists(#h, :empty), :old)"
            condition = "#o = :prev AND #rec = :prevrec"
        event: dict[str, Any] = {
            **key_attributes(outcome_event_keys(o.prediction_id, recorded_ms, self.shards)),
            "kind": {"S": "outcome"},
            "prediction_id": {"S": o.prediction_id},
            "outcome": {"S": o.outcome},
            "observed_at": {"S": observed_at},
            "recorded_at": {"S": recorded_at},
            "correction": {"BOOL": state.outcome is not None},
            "schema_version": {"N": str(OUTCOME_SCHEMA_VERSION)},
            "expires_at": {"N": str(recorded_ms // 1000 + self.ttl_days * 86400)},
        }
        if state.outcome is not None:
            event["previous"] = {"S": state.outcome}
        if state.ts:
            event["prediction_ts"] = {"S": state.ts}
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": key,
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": event,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]


# Not read yet (or to be read again): distinct from None, which means "no such item".
_MISSING = object()


def outcome_events(reader: LogReader, start: datetime, end: datetime, workers: int = 8) -> Iterator[dict[str, Any]]:
    """Every outcome event recorded in [start, end) (plain values), by Query per day and shard, never Scan."""
    lo = iso_millis(int(start.timestamp() * 1000))
    hi = iso_millis(int(end.timestamp() * 1000) - 1) + "#~"
    days = []
    day = start.astimezone(UTC).date()
    while day <= (end - timedelta(milliseconds=1)).astimezone(UTC).date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    parts = [outcome_partition_key(d, s) for d in days for s in range(reader.shards)]
    return reader.query_partitions(parts, lo, hi, workers)
