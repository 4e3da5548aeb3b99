"""Alert state in DynamoDB with conditional writes: two concurrent runs never post the same message."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from creditwatch_common.dynamo_json import deserialize, serialize


class Conflict(Exception):
    """Another run changed the state first: it owns the notification."""


@dataclass
class AlertState:
    """One condition's state: ok or firing, since when, last notified, and a version for optimistic locking."""

    key: str
    status: str = "ok"
    since: str | None = None
    last_notified_at: float | None = None
    version: int = 0
    exists: bool = False


@dataclass
class StateStore:
    """Reads and conditionally writes alert states."""

    dynamodb: Any
    table: str
    environment: str
    ttl_days: int = 30

    def _pk(self, key: str) -> str:
        return f"ALERT#{self.environment}#{key}"

    def get(self, key: str) -> AlertState:
        """The current state of a condition (ok if never seen)."""
        resp = self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": self._pk(key)}}, ConsistentRead=True)
        item = resp.get("Item")
        if not item:
            return AlertState(key=key)
        data = {k: deserialize(v) for k, v in item.items()}
        return AlertState(
            key=key,
            status=data["status"],
            since=data.get("since"),
            last_notified_at=data.get("last_notified_at"),
            version=int(data["version"]),
            exists=True,
        )

    def put(self, old: AlertState, new: AlertState, now: float) -> None:
        """Replace `old` by `new` only if nobody else changed it since it was read; Conflict otherwise."""
        item = {
            "pk": self._pk(new.key),
            "status": new.status,
            "since": new.since,
            "last_notified_at": new.last_notified_at,
            "version": old.version + 1,
            "expires_at": int(now) + self.ttl_days * 86400,
        }
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {k: serialize(v) for k, v in item.items() if v is not None},
        }
        if old.exists:
            kwargs["ConditionExpression"] = "#v = :v"
            kwargs["ExpressionAttributeNames"] = {"#v": "version"}
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(old.version)}}
        else:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self.dynamodb.put_item(**kwargs)
        except Exception as exc:
            if "ConditionalCheckFailed" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
                raise Conflict(new.key) from exc
            raise
        new.version = old.version + 1
        new.exists = True

    def claim_once(self, dedupe_key: str, now: float) -> bool:
        """Record that a one-off notification is being sent; False if it was already."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"NOTIFIED#{dedupe_key}"},
                    "at": {"N": str(now)},
                    "expires_at": {"N": str(int(now) + self.ttl_days * 86400)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if "ConditionalCheckFailed" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
                return False
            raise
        return True

    def release(self, dedupe_key: str) -> None:
        """Undo a claim whose message could not be sent, so a later run sends it."""
        self.dynamodb.delete_item(TableName=self.table, Key={"pk": {"S": f"NOTIFIED#{dedupe_key}"}})

    def restore(self, written: AlertState, previous: AlertState, now: float) -> None:
        """Put back the state a failed notification replaced (so the next run tries again)."""
        with contextlib.suppress(Conflict):
            self.put(
                written,
                AlertState(
                    key=previous.key,
                    status=previous.status,
                    since=previous.since,
                    last_notified_at=previous.last_notified_at,
                ),
                now,
            )
