"""Human review of referred applications: the shared contract of cases, decisions and their events.

A referred application is answered `decision: "refer"` with the model's own decision; its case waits in
ReviewCasesTable (`pk = case_id`; the sparse index `by-status` on `status` and `created_at` is the queue).
A reviewer's decision is written once, in one DynamoDB transaction of three actions:
  - the case: `status` pending -> decided (conditional, so a second decision fails and is answered 409);
  - the prediction's log item: `final_decision`, `decided_by`, `decided_at`, `override`;
  - an append-only review event in the log table, `pk = "REV#<decided day>#<shard>"`,
    `sk = "<decided ISO ms>#<prediction id>"`, which the lake export writes to `reviews/` beside outcomes.
A correction replaces the decision on the case and the record (the old one joins the case's `history`)
and is an event of its own, as outcome corrections are.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Literal

import orjson
from pydantic import BaseModel, Field

from creditwatch_common.ids import iso_millis
from creditwatch_common.log.keys import shard_of

ReviewDecision = Literal["approve", "refuse"]
DECISIONS: tuple[ReviewDecision, ...] = ("approve", "refuse")
CaseStatus = Literal["pending", "decided"]
# Why an application was referred (the rules of creditwatch_predict/referral.py).
ReferralRule = Literal["band", "out_of_range", "novelty", "audit"]
RULES: tuple[ReferralRule, ...] = ("band", "out_of_range", "novelty", "audit")

# What a reviewer may give as the reason of a decision (docs/operate.md, "Human review").
REASON_CODES: dict[str, str] = {
    "agrees_with_model": "the reviewer reached the model's decision",
    "verified_income": "income or savings verified beyond what the application says",
    "collateral_or_guarantor": "collateral or a guarantor the model does not see",
    "affordability_concern": "the repayments look unaffordable on the evidence",
    "inconsistent_application": "the application's values contradict each other or the documents",
    "data_error": "a value was entered wrongly; the decision rests on the corrected value",
    "policy_rule": "a lending policy rule outside the model decides",
    "other": "another reason, given in the note",
}
MAX_NOTE_CHARS = 500
# A case id is a UUIDv7 (the route's path pattern, and the CLI's check).
CASE_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
REVIEW_PK_PREFIX = "REV#"
# The queue: a sparse index on the case table (every case carries status and created_at).
STATUS_INDEX = "by-status"
# The version of the event item's (and the lake row's) fields.
REVIEW_SCHEMA_VERSION = 1
# Attributes a decision sets on the prediction's log item.
RECORD_ATTRIBUTES = ("final_decision", "decided_by", "decided_at", "override")


def review_partition_key(day: str, shard: int) -> str:
    """The partition key of the review events decided on one UTC day (yyyy-mm-dd) and shard."""
    return f"{REVIEW_PK_PREFIX}{day}#{shard:02d}"


def review_event_keys(prediction_id: str, decided_ms: int, shards: int) -> dict[str, str]:
    """Primary key of a review event: by the time it was decided, then the prediction's id."""
    ts = iso_millis(decided_ms)
    return {"pk": review_partition_key(ts[:10], shard_of(prediction_id, shards)), "sk": f"{ts}#{prediction_id}"}


def review_event_range(start: datetime, end: datetime, shards: int) -> tuple[list[str], str, str]:
    """The partitions and the sort-key bounds of the review events decided in [start, end)."""
    lo = iso_millis(int(start.timestamp() * 1000))
    hi = iso_millis(int(end.timestamp() * 1000) - 1) + "#~"
    days, day = [], start.astimezone(UTC).date()
    while day <= (end - timedelta(milliseconds=1)).astimezone(UTC).date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return [review_partition_key(d, s) for d in days for s in range(shards)], lo, hi


def audit_draw(features: dict[str, object]) -> float:
    """A uniform number in [0, 1) fixed by the application: the random audit refers those below the share.

    Drawn from the application's values (a hash of them, sorted by name), not from the prediction id:
    the same application always gets the same answer, so sending it again cannot draw the audit away.
    """
    text = orjson.dumps(features, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(text, digest_size=8, person=b"cw-audit").digest()
    return int.from_bytes(digest, "big") / 2**64


class ReviewCase(BaseModel):
    """One referred application as the queue holds it: no feature value, only what the record holds already."""

    case_id: str
    prediction_id: str
    status: CaseStatus = "pending"
    created_at: str = Field(description="When the application was referred (UTC, ISO 8601 ms)")
    model_decision: ReviewDecision
    probability_good_credit: float
    model_version: str
    referral: list[ReferralRule]
    decision: ReviewDecision | None = None
    reason_code: str | None = None
    note: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    override: bool | None = None
    # The decisions a correction replaced, oldest first (decision, reason_code, decided_by, decided_at).
    history: list[dict[str, str | bool | None]] = []


class ReviewEvent(BaseModel):
    """One decision as recorded (an event item, and a row of the lake's `reviews/`)."""

    case_id: str
    prediction_id: str
    decision: ReviewDecision
    model_decision: ReviewDecision
    override: bool
    reason_code: str
    note: str | None = None
    decided_by: str
    decided_at: str
    # Through the review API (a token's identity) or `creditwatch review decide` (an operator's name).
    channel: Literal["api", "cli"] = "api"
    correction: bool = False
    previous: ReviewDecision | None = None
    # The version that scored the case (the override rate by model version); absent on older events.
    model_version: str | None = None
