"""Outcomes (ground truth) of logged predictions: how they are stored, and the labelled rows the jobs read.

An outcome is stored twice, in one DynamoDB transaction:
  - on the prediction's own item (found by its id alone, see log.keys): `outcome`, `outcome_observed_at`,
    `outcome_recorded_at`, and `outcome_history` (the earlier values a correction replaced), so that a
    cohort read by prediction time carries its labels;
  - as an append-only outcome event, `pk = "OUT#<recorded day>#<shard>"`, `sk = "<recorded ISO ms>#<id>"`,
    so that the lake export finds the outcomes recorded in an hour (whatever the prediction's age) and
    writes them to `outcomes/dt=.../hour=...` (nothing in the lake is updated in place).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from creditwatch_common.ids import iso_millis
from creditwatch_common.log.keys import shard_of
from creditwatch_common.records import LEGACY_PROBABILITY, normalise

Outcome = Literal["good", "bad"]
OUTCOMES: tuple[Outcome, ...] = ("good", "bad")
# What the outcomes route answers for each item.
OutcomeStatus = Literal["recorded", "unchanged", "conflict", "corrected", "unknown_prediction"]

OUTCOME_PK_PREFIX = "OUT#"
# Attributes the outcomes route sets on the prediction's item.
OUTCOME_ATTRIBUTES = ("outcome", "outcome_observed_at", "outcome_recorded_at", "outcome_history")


def outcome_partition_key(day: str, shard: int) -> str:
    """The partition key of the outcome events recorded on one UTC day (yyyy-mm-dd) and shard."""
    return f"{OUTCOME_PK_PREFIX}{day}#{shard:02d}"


def outcome_event_keys(prediction_id: str, recorded_ms: int, shards: int) -> dict[str, str]:
    """Primary key of an outcome event: by the time it was recorded, then the prediction's id."""
    ts = iso_millis(recorded_ms)
    return {"pk": outcome_partition_key(ts[:10], shard_of(prediction_id, shards)), "sk": f"{ts}#{prediction_id}"}


class OutcomeEvent(BaseModel):
    """One outcome as recorded (an event item, and a row of the lake's `outcomes/`)."""

    prediction_id: str
    outcome: Outcome
    observed_at: datetime
    recorded_at: datetime
    # True when it replaced a different earlier outcome (`previous`).
    correction: bool = False
    previous: Outcome | None = None


def label_of(outcome: str | None) -> int | None:
    """The model's target coding of an outcome: 1 good, 0 bad, None when unknown."""
    if outcome is None:
        return None
    return 1 if outcome == "good" else 0


@dataclass(frozen=True, slots=True)
class LabelledRow:
    """A scored application with its outcome, if one is recorded (what the quality job reads)."""

    ATTRIBUTES: ClassVar[tuple[str, ...] | None] = (
        "prediction_id",
        "ts",
        "features",
        "probability_good_credit",
        LEGACY_PROBABILITY,
        "prediction",
        "decision",
        "model_version",
        "outcome",
        "outcome_observed_at",
        "challenger_version",
        "challenger_probability_good_credit",
        "challenger_decision",
        "final_decision",
        "override",
    )

    prediction_id: str
    ts: str | None
    features: dict[str, Any]
    probability_good_credit: float | None
    prediction: int | None
    decision: str | None
    model_version: str
    outcome: Outcome | None
    outcome_observed_at: str | None
    # The shadow challenger's answer for the same application (None when it had none).
    challenger_version: str | None = None
    challenger_probability_good_credit: float | None = None
    challenger_decision: str | None = None
    # A reviewer's decision on the record's referred case (creditwatch_common.review), if one was taken.
    final_decision: str | None = None
    override: bool | None = None

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> LabelledRow:
        """From an item's plain values."""
        v = normalise(values)
        prediction = v.get("prediction")
        return cls(
            prediction_id=str(v["prediction_id"]),
            ts=v.get("ts"),
            features=v.get("features") or {},
            probability_good_credit=v.get("probability_good_credit"),
            prediction=None if prediction is None else int(prediction),
            decision=v.get("decision"),
            model_version=str(v.get("model_version", "unknown")),
            outcome=v.get("outcome"),
            outcome_observed_at=v.get("outcome_observed_at"),
            challenger_version=v.get("challenger_version"),
            challenger_probability_good_credit=(
                None if (q := v.get("challenger_probability_good_credit")) is None else float(q)
            ),
            challenger_decision=v.get("challenger_decision"),
            final_decision=v.get("final_decision"),
            override=None if v.get("override") is None else bool(v["override"]),
        )
