"""Hours the lake must export again: marked by the spill replay, cleared by the lake export once written.

The hourly export re-reads only its last few hours, and a spill replay puts a record back with its own
time, possibly days before. So the replay marks each hour it wrote into, and the next export rewrites
those hours too, whatever their age, then clears each mark it saw.

Why marks are items of the prediction log table (`pk = LAKE#PENDING`, `sk = YYYY-MM-DD-HH`) rather than
objects under `predictions/_pending/` in the lake:

- least privilege: every replayer (the alerts function, `creditwatch replay-spill`) already holds
  PutItem on the table and knows its name; marking in the lake would give the alerts function write
  access to the auditors' archive, and the CLI a lake bucket it does not otherwise need. The export
  already queries the table; it gains only DeleteItem, limited by IAM to this one partition key
  (`dynamodb:LeadingKeys`);
- the lake may be under Object Lock (compliance mode): every marker object would be a locked version
  kept for years beside the data, and its delete a delete marker;
- one partition, read with one Query; no window read ever queries it (they read `LOG#` and `OUT#`
  partitions only), and a mark has no `expires_at`: it lives until an export has written its hour.

A mark is written after its record and before the spill message is deleted, so a replay that stops in
between leaves the message queued and marks again when it comes back. Each mark carries a fresh token;
the export deletes it only if the token is still the one it read before exporting the hour, so a
replay that marks the hour again meanwhile (a record the export may have missed) keeps its mark.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from creditwatch_common.aws import error_code

PENDING_PK = "LAKE#PENDING"
SK_FORMAT = "%Y-%m-%d-%H"


def hour_of_log_item(item: dict[str, Any]) -> datetime | None:
    """The UTC hour of a prediction log item (from its sort key `<ISO ms timestamp>#<id>`), None if not one."""
    pk, sk = item.get("pk", {}).get("S", ""), item.get("sk", {}).get("S", "")
    if not pk.startswith("LOG#") or len(sk) < 13:
        return None
    try:
        return datetime.strptime(sk[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def pending_sk(hour: datetime) -> str:
    """The sort key of an hour's mark (`YYYY-MM-DD-HH`, UTC)."""
    return hour.astimezone(UTC).strftime(SK_FORMAT)


@dataclass(frozen=True)
class PendingHour:
    """One marked hour, with the token the export must see unchanged to clear it."""

    hour: datetime
    token: str


@dataclass
class PendingHours:
    """The marks of hours to export again, in the prediction log table."""

    dynamodb: Any
    table: str

    def mark(self, hour: datetime, now: datetime | None = None) -> None:
        """Mark an hour (a fresh token: an export that read the previous mark will not clear this one)."""
        marked_at = (now or datetime.now(UTC)).astimezone(UTC)
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": PENDING_PK},
                "sk": {"S": pending_sk(hour)},
                "token": {"S": uuid.uuid4().hex},
                "marked_at": {"S": marked_at.isoformat(timespec="seconds")},
            },
        )

    def mark_all(self, hours: Iterable[datetime]) -> None:
        """Mark each hour once."""
        for hour in sorted(set(hours)):
            self.mark(hour)

    def list(self) -> list[PendingHour]:
        """Every marked hour, oldest first (strongly consistent: a mark written before the run is seen)."""
        found: list[PendingHour] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PENDING_PK}},
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                hour = datetime.strptime(item["sk"]["S"], SK_FORMAT).replace(tzinfo=UTC)
                found.append(PendingHour(hour=hour, token=item.get("token", {}).get("S", "")))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def clear(self, pending: PendingHour) -> bool:
        """Delete the mark if it still carries the token read; False when it was marked again meanwhile."""
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"pk": {"S": PENDING_PK}, "sk": {"S": pending_sk(pending.hour)}},
                ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": pending.token}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True
