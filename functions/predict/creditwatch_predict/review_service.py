"""Human review free of HTTP: the queue's page, a case as a reviewer sees it, a decision and why one is refused.

The review routes and `creditwatch review` both call these, so a decision made on the local stack's
command line is checked, recorded and refused exactly as one made through the API.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from creditwatch_common.log.reviews import DecideResult, ReviewStore
from creditwatch_common.log.writer import NO_DEADLINE
from creditwatch_common.records import StoredRecord
from creditwatch_common.review import REASON_CODES, ReviewCase
from creditwatch_model import CreditModel
from creditwatch_model.explain import reasons_from_record


def age_seconds(created_at: str, now: float | None = None) -> int:
    """Seconds since a case was referred."""
    at = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    return max(0, int((now if now is not None else time.time()) - at))


def queue_items(cases: Sequence[ReviewCase], now: float | None = None) -> list[dict[str, Any]]:
    """A page of the queue as the API answers it: each case with its age."""
    return [{**c.model_dump(), "age_seconds": age_seconds(c.created_at, now)} for c in cases]


@dataclass(frozen=True)
class Refusal:
    """Why a decision was not recorded: the HTTP status and code the API answers, and the message."""

    status: int
    code: str
    message: str


def record_decision(
    store: ReviewStore,
    case_id: str,
    request: Any,
    reviewer: str,
    channel: Literal["api", "cli"] = "api",
    deadline: float = NO_DEADLINE,
) -> DecideResult:
    """Record a reviewer's decision (a validated ReviewDecisionRequest) under the reviewer's identity."""
    return store.decide(
        case_id,
        request.decision,
        request.reason_code,
        reviewer,
        note=request.note,
        correction=request.correction,
        channel=channel,
        deadline=deadline,
    )


def refusal(result: DecideResult, case_id: str) -> Refusal | None:
    """Why the decision was not recorded (None: it was, or it was the same as the one recorded)."""
    if result.status == "unknown_case" or result.case is None:
        return Refusal(404, "case_not_found", f"No review case {case_id}")
    if result.status == "conflict":
        case = result.case
        return Refusal(
            409,
            "already_decided",
            f"Case {case_id} was decided already ({case.decision} by {case.decided_by} at {case.decided_at}); "
            "send correction: true to change it",
        )
    if result.status == "not_logged":
        return Refusal(
            409,
            "prediction_not_logged",
            "The prediction's record is not in the log yet (it may be waiting in the spill queue): retry later",
        )
    return None


def case_detail(model: CreditModel, case: ReviewCase, record: StoredRecord | None) -> dict[str, Any]:
    """The case, with its application, reasons and counterfactual rebuilt from the prediction's log record.

    The case holds no feature value; the record does (until its TTL or an erase). The counterfactual is
    searched again with the model that serves now when it is the record's version, else not at all.
    """
    out: dict[str, Any] = {**case.model_dump(), "age_seconds": age_seconds(case.created_at)}
    out["reason_codes"] = REASON_CODES
    if record is None or record.features is None:
        out.update(application=None, reasons=[], counterfactual=None)
        out["note_on_record"] = "the prediction's record is not in the log (not yet written, expired or erased)"
        return out
    out["application"] = record.features
    try:
        out["reasons"] = [dict(r) for r in reasons_from_record(model.schema, record.model_dump())]
    except ValueError:
        out["reasons"] = []
    out["counterfactual"] = None
    if case.model_decision == "refuse" and record.model_version == model.version:
        from creditwatch_model.counterfactual import counterfactual

        found = counterfactual(model, record.features)
        out["counterfactual"] = {
            "status": found.status,
            "changes": [
                {"feature": c.feature, "label": c.label, "from": c.from_value, "to": c.to_value, "meaning": c.meaning}
                for c in found.changes
            ],
            "probability_good_credit": found.probability_good_credit,
            "message": found.message,
            "candidates_scored": found.candidates_scored,
        }
    out["final_decision"] = record.final_decision
    return out
