"""Idempotent retries: one conditional write claims a client's key; the answer is kept for the window.

One item per key (`pk` = a hash of the route and the client's key, never the key itself):
  IN_PROGRESS  claimed by a request being answered (until `locked_until`, then a retry may take it over)
  COMPLETED    the answer (status, content type, body zlib-compressed, in `parts` items of at most
               PART_BYTES beside it when larger), replayed to the same key and body until `expires_at`
The request's fingerprint (a hash of method, route, query and body) tells a retry from a reuse of the key
with another request. Expiry is DynamoDB's TTL on `expires_at`; an expired item is also taken over at
once, since TTL deletes within days, not seconds.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from creditwatch_common.aws import error_code

# Under DynamoDB's 400 KB item limit with room for the other attributes.
PART_BYTES = 350_000
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"

ClaimState = Literal["claimed", "replay", "reused", "in_progress"]


@dataclass(frozen=True)
class StoredAnswer:
    """The answer given the first time: what a retry gets again."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What `claim` found: the key is ours (claimed), answered (replay), someone else's body, or in progress."""

    state: ClaimState
    answer: StoredAnswer | None = None


def fingerprint(method: str, route: str, query: bytes, body: bytes) -> str:
    """The request as far as idempotency cares: the same fingerprint is the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), route.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass
class IdempotencyStore:
    """Claims, completes and releases idempotency keys in one DynamoDB table (hash key `pk`, TTL `expires_at`)."""

    dynamodb: Any
    table: str
    window_s: int = 86_400
    # Longer than the function's timeout: a claim older than this was left by a request that died.
    lock_s: int = 60
    clock: Callable[[], float] = time.time

    @staticmethod
    def item_key(route: str, key: str) -> str:
        """The table key of a client's key on a route (hashed: the client's text is not stored)."""
        return "IDEMPOTENCY#" + hashlib.sha256(f"{route}\n{key}".encode()).hexdigest()

    def claim(self, pk: str, fp: str) -> Claim:
        """Claim the key for this request, or say why not (with the stored answer for a replay)."""
        now = int(self.clock())
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": pk},
                    "state": {"S": IN_PROGRESS},
                    "fingerprint": {"S": fp},
                    "locked_until": {"N": str(now + self.lock_s)},
                    "expires_at": {"N": str(now + self.window_s)},
                },
                # Free, expired, or abandoned by a request that died while it held it.
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR "
                "(#state = :in_progress AND locked_until < :now)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":in_progress": {"S": IN_PROGRESS}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return Claim("claimed")
        except Exception as exc:  # botocore's errors, imported lazily: re-raised unless a failed condition
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            old = getattr(exc, "response", {}).get("Item") or self._get(pk)
        if old is None:  # gone between the write and the read (TTL): claim again
            return self.claim(pk, fp)
        if old["fingerprint"]["S"] != fp:
            return Claim("reused")
        if old["state"]["S"] != COMPLETED:
            return Claim("in_progress")
        return Claim("replay", self._answer(pk, old))

    def complete(self, pk: str, fp: str, answer: StoredAnswer) -> None:
        """Keep the answer for retries (only while this request still holds the claim)."""
        packed = zlib.compress(answer.body, 6)
        parts = [packed[i : i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)]
        expires = str(int(self.clock()) + self.window_s)
        # The parts first: a COMPLETED item always finds its parts.
        for i, part in enumerate(parts[1:], start=1):
            self.dynamodb.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"{pk}#{i}"}, "body": {"B": part}, "expires_at": {"N": expires}},
            )
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET #state = :done, #status = :status, content_type = :ct, body = :body, "
            "parts = :parts, expires_at = :expires REMOVE locked_until",
            ConditionExpression="fingerprint = :fp AND #state = :in_progress",
            ExpressionAttributeNames={"#state": "state", "#status": "status"},
            ExpressionAttributeValues={
                ":done": {"S": COMPLETED},
                ":status": {"N": str(answer.status)},
                ":ct": {"S": answer.content_type},
                ":body": {"B": parts[0] if parts else b""},
                ":parts": {"N": str(len(parts))},
                ":expires": {"N": expires},
                ":fp": {"S": fp},
                ":in_progress": {"S": IN_PROGRESS},
            },
        )

    def release(self, pk: str, fp: str) -> None:
        """Give the key back (the request failed): a retry runs it again."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": pk}},
                ConditionExpression="fingerprint = :fp AND #state = :in_progress",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":fp": {"S": fp}, ":in_progress": {"S": IN_PROGRESS}},
            )
        except Exception as exc:  # botocore's errors, imported lazily: re-raised unless a failed condition
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def forget(self, pk: str) -> int:
        """Delete a key's item and the parts of its answer (erase: the answer holds personal data); items deleted."""
        old = self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": pk}}, ReturnValues="ALL_OLD").get(
            "Attributes"
        )
        if old is None:
            return 0
        parts = int(old.get("parts", {}).get("N", "1"))
        for i in range(1, parts):
            self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": f"{pk}#{i}"}})
        return parts

    def _get(self, pk: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")
        return item

    def _answer(self, pk: str, item: dict[str, Any]) -> StoredAnswer:
        packed = [item["body"]["B"]]
        for i in range(1, int(item["parts"]["N"])):
            part = self._get(f"{pk}#{i}")
            if part is None:
                raise LookupError(f"idempotency answer part {i} of {pk} is missing")
            packed.append(part["body"]["B"])
        return StoredAnswer(
            status=int(item["status"]["N"]),
            content_type=item["content_type"]["S"],
            body=zlib.decompress(b"".join(packed)),
        )
