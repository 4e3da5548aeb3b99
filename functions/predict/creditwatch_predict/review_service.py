"""What a reviewer sees of a case, free of HTTP: the application, reasons and counterfactual from its log record."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from creditwatch_common.records import StoredRecord
from creditwatch_common.review import REASON_CODES, ReviewCase
from creditwatch_model import CreditModel
from creditwatch_model.explain import reasons_from_record


def age_seconds(created_at: str, now: float | None = None) -> int:
    """Seconds since a case was referred."""
    at = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    return max(0, int((now if now is not None else time.time()) - at))


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
