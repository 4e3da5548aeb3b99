"""Oversight of the reviewers: the review queue's size and oldest age, and how often reviewers override the model.

Two rules beside the error rate and latency, judged every run and told to Slack on the same transitions:
  - review_queue_age: the oldest pending case waits longer than the SLA (ReviewSlaHours; 0 turns it off);
  - override_rate: over the last ReviewOverrideWindowHours, the share of decided cases whose final
    decision differs from the model's is outside [low, high] (ReviewOverrideRateLow/High): near zero
    suggests automation bias (people confirm whatever the model says), a high rate that the model is off.
A case's decision is its latest in the window (a correction replaces it); the breakdowns by reason code,
reviewer and model version, and the time from referral to decision, are in the run's result and log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from creditwatch_alerts.rules import Condition, percentile
from creditwatch_common.ids import iso_utc, uuid7_millis
from creditwatch_common.log import LogReader
from creditwatch_common.review import STATUS_INDEX, review_event_range


class Tally(BaseModel):
    """Decisions and overrides of one group."""

    decisions: int = 0
    overrides: int = 0

    @property
    def rate(self) -> float | None:
        """Overrides per decision."""
        return self.overrides / self.decisions if self.decisions else None


class OversightStats(BaseModel):
    """The queue now, and the decisions of the override window."""

    window_start: str
    window_end: str
    queue_size: int
    oldest_pending_at: str | None
    oldest_age_hours: float | None
    decisions: int
    overrides: int
    override_rate: float | None
    by_reason_code: dict[str, Tally]
    by_reviewer: dict[str, Tally]
    by_model_version: dict[str, Tally]
    # Hours from the application (its referral) to the first decision on it, over the window's first decisions.
    hours_to_decision: dict[str, float | None]

    @classmethod
    def build(
        cls, queue: tuple[int, str | None], events: Iterable[dict[str, Any]], start: datetime, end: datetime
    ) -> OversightStats:
        """From the queue's (size, oldest created_at) and the window's review events (plain values)."""
        latest: dict[str, dict[str, Any]] = {}
        waits: list[float] = []
        for e in events:
            case = str(e["case_id"])
            if case not in latest or str(e["decided_at"]) > str(latest[case]["decided_at"]):
                latest[case] = e
            if not e.get("correction"):
                decided = datetime.fromisoformat(str(e["decided_at"]).replace("Z", "+00:00")).timestamp()
                waits.append(max(0.0, decided - uuid7_millis(str(e["prediction_id"])) / 1000) / 3600)
        groups: dict[str, dict[str, Tally]] = {"reason_code": {}, "decided_by": {}, "model_version": {}}
        overrides = 0
        for e in latest.values():
            overrides += bool(e["override"])
            for field, tallies in groups.items():
                tally = tallies.setdefault(str(e.get(field) or "unknown"), Tally())
                tally.decisions += 1
                tally.overrides += bool(e["override"])
        size, oldest = queue
        age = None
        if oldest is not None:
            age = max(0.0, end.timestamp() - datetime.fromisoformat(oldest.replace("Z", "+00:00")).timestamp()) / 3600
        n = len(latest)
        return cls(
            window_start=iso_utc(start),
            window_end=iso_utc(end),
            queue_size=size,
            oldest_pending_at=oldest,
            oldest_age_hours=None if age is None else round(age, 3),
            decisions=n,
            overrides=overrides,
            override_rate=overrides / n if n else None,
            by_reason_code=groups["reason_code"],
            by_reviewer=groups["decided_by"],
            by_model_version=groups["model_version"],
            hours_to_decision={
                "p50": round(percentile(waits, 50), 3) if waits else None,
                "p95": round(percentile(waits, 95), 3) if waits else None,
                "max": round(max(waits), 3) if waits else None,
            },
        )


@dataclass
class OversightReader:
    """Reads the queue (the cases table's status index) and the review events (the log table)."""

    dynamodb: Any
    cases_table: str
    log: LogReader

    def queue(self) -> tuple[int, str | None]:
        """The number of pending cases and the oldest one's created_at."""
        base: dict[str, Any] = {
            "TableName": self.cases_table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "pending"}},
        }
        first = self.dynamodb.query(**base, ScanIndexForward=True, Limit=1).get("Items", [])
        if not first:
            return 0, None
        size, request = 0, {**base, "Select": "COUNT"}
        while True:
            page = self.dynamodb.query(**request)
            size += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return size, str(first[0]["created_at"]["S"])
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def events(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every review event decided in [start, end)."""
        parts, lo, hi = review_event_range(start, end, self.log.shards)
        return list(self.log.query_partitions(parts, lo, hi))


def evaluate_oversight(
    stats: OversightStats, *, sla_hours: float, low: float, high: float, min_decisions: int
) -> list[Condition]:
    """The queue older than the SLA, and the override rate outside [low, high] once enough cases were decided."""
    age, rate = stats.oldest_age_hours, stats.override_rate
    enough = stats.decisions >= min_decisions
    outside = enough and rate is not None and (rate < low or rate > high)
    if not enough:
        why = f"only {stats.decisions} decided case(s) since {stats.window_start}, {min_decisions} needed to judge"
    elif rate is not None and rate < low:
        why = (
            f"{stats.overrides} of {stats.decisions} decided cases overrode the model: reviewers may be confirming "
            "whatever it says (automation bias); audit a sample of their decisions"
        )
    elif rate is not None and rate > high:
        why = (
            f"{stats.overrides} of {stats.decisions} decided cases overrode the model: it may be off for the "
            "cases it refers; read the drift and quality reports and the reason codes"
        )
    else:
        why = f"{stats.overrides} of {stats.decisions} decided cases overrode the model"
    top = sorted(stats.by_reason_code.items(), key=lambda kv: -kv[1].overrides)[:3]
    if enough and top and stats.overrides:
        why += "; overrides by reason: " + ", ".join(f"{k} {t.overrides}" for k, t in top if t.overrides)
    return [
        Condition(
            key="review_queue_age",
            title="Review queue older than its SLA",
            severity="warning",
            judged=sla_hours > 0,
            firing=sla_hours > 0 and age is not None and age > sla_hours,
            value=age,
            threshold=sla_hours,
            unit="h",
            detail=(
                f"{stats.queue_size} case(s) pending; the oldest referred at {stats.oldest_pending_at}"
                if stats.queue_size
                else "no case pending"
            ),
        ),
        Condition(
            key="override_rate",
            title="Reviewers' override rate outside its band",
            severity="warning",
            judged=enough,
            firing=outside,
            value=rate,
            threshold=(low if rate is not None and rate < low else high),
            unit="share",
            detail=why,
        ),
    ]
