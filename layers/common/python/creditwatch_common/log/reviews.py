"""The review queue and its decisions: cases in ReviewCasesTable, decisions written once, within a deadline.

See creditwatch_common/review.py for the layout. Every call starts only if it can end by the deadline
(`ReviewUnavailable` otherwise: the route's 503 with Retry-After); a decision is one transaction, so it
is recorded whole or not at all, and a retry after an attempt of unknown fate (a timeout) finds its own
stamp on the case and answers as if the first had returned.
"""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from creditwatch_common.aws import error_code, is_permanent
from creditwatch_common.dynamo_json import deserialize, serialize
from creditwatch_common.ids import iso_millis, uuid7_millis
from creditwatch_common.log.keys import key_attributes, keys_for
from creditwatch_common.log.writer import NO_DEADLINE
from creditwatch_common.review import (
    REVIEW_SCHEMA_VERSION,
    STATUS_INDEX,
    ReviewCase,
    ReviewDecision,
    ReviewEvent,
    review_event_keys,
)

DecideStatus = Literal["decided", "corrected", "conflict", "unchanged", "unknown_case", "not_logged"]


class ReviewUnavailable(Exception):
    """The review store did not answer in time; nothing was recorded, or a retry finds what was."""


@dataclass(frozen=True, slots=True)
class DecideResult:
    """What a decision did, and the case as it stands now (None for an unknown case)."""

    status: DecideStatus
    case: ReviewCase | None


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    return None if not key else base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    """A page cursor back to DynamoDB's key (ValueError when it is not one this store made)."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except Exception as exc:
        raise ValueError("not a cursor of this queue") from exc
    if not isinstance(key, dict) or set(key) != {"case_id", "status", "created_at"}:
        raise ValueError("not a cursor of this queue")
    return key


def case_of(item: dict[str, Any]) -> ReviewCase:
    """A case from its DynamoDB item."""
    return ReviewCase.model_validate({k: deserialize(v) for k, v in item.items() if k != "expires_at"})


@dataclass
class ReviewStore:
    """Queues referred cases and records reviewers' decisions (thread-safe clients expected)."""

    dynamodb: Any
    table: str
    log_table: str
    shards: int
    # Cases and events expire with the log (the lake keeps the events for years).
    ttl_days: int = 90
    max_attempts: int = 4
    base_delay_s: float = 0.05
    call_timeout_s: float = 3.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))

    def _fits(self, by: float) -> bool:
        return self.clock() + self.call_timeout_s <= by

    def _call(self, by: float, fn: Callable[[], Any]) -> Any:
        """One call retried on transient errors while a next attempt still fits before `by`."""
        for attempt in range(self.max_attempts):
            if not self._fits(by):
                break
            try:
                return fn()
            except Exception as exc:
                if is_permanent(exc) or error_code(exc) in ("ConditionalCheckFailedException",):
                    raise
            delay = random.uniform(0, self.base_delay_s * (2**attempt))
            if self.clock() + delay + self.call_timeout_s > by:
                break
            self.sleep(delay)
        raise ReviewUnavailable(f"the review table {self.table} did not answer in time")

    # ---- the queue ----------------------------------------------------------------------
    def enqueue(self, cases: Sequence[ReviewCase], deadline: float = NO_DEADLINE) -> None:
        """Put new cases on the queue (ReviewUnavailable when they could not be written in time)."""
        for case in cases:
            item = {k: serialize(v) for k, v in case.model_dump(exclude_none=True).items()}
            item["expires_at"] = {"N": str(uuid7_millis(case.prediction_id) // 1000 + self.ttl_days * 86400)}
            self._put(item, deadline)

    def _put(self, item: dict[str, Any], deadline: float) -> None:
        self._call(deadline, lambda: self.dynamodb.put_item(TableName=self.table, Item=item))

    def pending(
        self, limit: int = 50, cursor: str | None = None, deadline: float = NO_DEADLINE
    ) -> tuple[list[ReviewCase], str | None]:
        """Pending cases, oldest first, one page; and the cursor of the next page (None: the last)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "pending"}},
            "ScanIndexForward": True,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = {k: {"S": v} for k, v in decode_cursor(cursor).items()}
        resp = self._call(deadline, lambda: self.dynamodb.query(**request))
        last = resp.get("LastEvaluatedKey")
        plain = {k: v["S"] for k, v in last.items()} if last else None
        return [case_of(i) for i in resp.get("Items", [])], _encode_cursor(plain)

    def get(self, case_id: str, deadline: float = NO_DEADLINE) -> ReviewCase | None:
        """One case (a consistent read), or None."""
        resp = self._call(
            deadline,
            lambda: self.dynamodb.get_item(TableName=self.table, Key={"case_id": {"S": case_id}}, ConsistentRead=True),
        )
        item = resp.get("Item")
        return case_of(item) if item else None

    # ---- decisions ----------------------------------------------------------------------
    def decide(
        self,
        case_id: str,
        decision: ReviewDecision,
        reason_code: str,
        decided_by: str,
        *,
        note: str | None = None,
        correction: bool = False,
        channel: Literal["api", "cli"] = "api",
        deadline: float = NO_DEADLINE,
    ) -> DecideResult:
        """Record a decision once; `correction` replaces a decision already recorded (kept in the history)."""
        mine: dict[str, DecideStatus] = {}
        for _ in range(self.max_attempts):
            case = self.get(case_id, deadline)
            if case is None:
                return DecideResult("unknown_case", None)
            if case.decided_at in mine:
                # An earlier attempt of ours committed after all.
                return DecideResult(mine[case.decided_at], case)
            if case.status == "decided" and not correction:
                return DecideResult("conflict", case)
            if case.status == "decided" and (case.decision, case.reason_code, case.note) == (
                decision,
                reason_code,
                note,
            ):
                return DecideResult("unchanged", case)
            status: DecideStatus = "corrected" if case.status == "decided" else "decided"
            decided_ms = max(self.now_ms(), _millis(case.decided_at) + 1)
            event = ReviewEvent(
                case_id=case_id,
                prediction_id=case.prediction_id,
                decision=decision,
                model_decision=case.model_decision,
                override=decision != case.model_decision,
                reason_code=reason_code,
                note=note,
                decided_by=decided_by,
                decided_at=iso_millis(decided_ms),
                channel=channel,
                correction=status == "corrected",
                previous=case.decision,
                model_version=case.model_version,
            )
            if not self._fits(deadline):
                break
            try:
                self.dynamodb.transact_write_items(TransactItems=self._actions(case, event, decided_ms))
                return DecideResult(status, self.get(case_id, deadline))
            except Exception as exc:
                response = getattr(exc, "response", None) or {}
                reasons = [r.get("Code") for r in response.get("CancellationReasons", [])]
                if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                    if reasons[1:2] == ["ConditionalCheckFailed"]:
                        # The prediction's record is not in the log (yet: a spilled record comes back).
                        return DecideResult("not_logged", case)
                    continue  # someone else decided in between: read again
                if is_permanent(exc):
                    raise
                mine[event.decided_at] = status
        # One last look tells whether an uncertain attempt landed.
        case = self.get(case_id, deadline)
        if case is not None and case.decided_at in mine:
            return DecideResult(mine[case.decided_at], case)
        raise ReviewUnavailable(f"the decision on {case_id} could not be recorded in time: nothing was recorded")

    def _actions(self, case: ReviewCase, event: ReviewEvent, decided_ms: int) -> list[dict[str, Any]]:
        set_case = {
            "status": "decided",
            "decision": event.decision,
            "reason_code": event.reason_code,
            "decided_by": event.decided_by,
            "decided_at": event.decided_at,
            "override": event.override,
        }
        names = {f"#c{i}": k for i, k in enumerate(set_case)}
        values = {f":c{i}": serialize(v) for i, v in enumerate(set_case.values())}
        sets = [f"#c{i} = :c{i}" for i in range(len(set_case))]
        names["#note"] = "note"
        removes = []
        if event.note is not None:
            values[":note"] = serialize(event.note)
            sets.append("#note = :note")
        else:
            removes.append("#note")
        if case.status == "pending":
            condition = "#c0 = :pending"
            values[":pending"] = {"S": "pending"}
        else:
            # The correction replaces exactly the decision it was made on; that one joins the history.
            old = {k: getattr(case, k) for k in ("decision", "reason_code", "note", "decided_by", "decided_at")}
            names["#h"] = "history"
            values[":old"] = {"L": [serialize(old)]}
            values[":empty"] = {"L": []}
            values[":prev"] = {"S": case.decided_at or ""}
            sets.append("#h = list_append(if_not_exists(#h, :empty), :old)")
            condition = "#c4 = :prev"
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        record = {
            "final_decision": event.decision,
            "decided_by": event.decided_by,
            "decided_at": event.decided_at,
            "override": event.override,
        }
        item: dict[str, Any] = {
            **key_attributes(review_event_keys(case.prediction_id, decided_ms, self.shards)),
            **{k: serialize(v) for k, v in event.model_dump(exclude_none=True).items()},
            "kind": {"S": "review"},
            "schema_version": {"N": str(REVIEW_SCHEMA_VERSION)},
            "expires_at": {"N": str(decided_ms // 1000 + self.ttl_days * 86400)},
        }
        return [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": {"case_id": {"S": case.case_id}},
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": self.log_table,
                    "Key": key_attributes(keys_for(case.prediction_id, self.shards)),
                    "UpdateExpression": "SET " + ", ".join(f"#r{i} = :r{i}" for i in range(len(record))),
                    "ConditionExpression": "attribute_exists(#d)",
                    "ExpressionAttributeNames": {"#d": "decision", **{f"#r{i}": k for i, k in enumerate(record)}},
                    "ExpressionAttributeValues": {f":r{i}": serialize(v) for i, v in enumerate(record.values())},
                }
            },
            {"Put": {"TableName": self.log_table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        ]


def _millis(iso: str | None) -> int:
    if not iso:
        return 0
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
