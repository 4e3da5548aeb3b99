"""The prediction log's records: what the predict function writes and the typed rows the jobs read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self

from pydantic import BaseModel, Field

from creditwatch_common.ids import iso_millis, uuid7, uuid7_millis

RecordKind = Literal["request", "application"]
# Routes whose requests are not scoring traffic: ground truth posted by the lender's systems, in
# bursts, with their own latency; the error-rate and latency alerts leave them out.
OUTCOME_ROUTES = frozenset({"/outcomes"})
# The reviewers' routes and page (a person's clicks, not scoring traffic either).
REVIEW_ROUTES = frozenset({"/reviews", "/reviews/{case_id}", "/review", "/review/assets/{name}"})
# Items written before the field took the API's name carry the old attribute (TTL: 90 days by default).
LEGACY_PROBABILITY = "probability_good"
# Requests that are not applicants (the uptime probe, the deployment gate's replay) carry this header;
# their records keep its value in `synthetic`, and no window read returns them (LogReader.query_window).
SYNTHETIC_HEADER = "x-creditwatch-synthetic"
SYNTHETIC_ATTRIBUTE = "synthetic"
SYNTHETIC_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


# The shadow challenger's outputs on a scored record (creditwatch_predict.shadow): which version scored it,
# and its P(good), decision and first reason; the version alone when the challenger did not score it.
CHALLENGER_FIELDS = (
    "challenger_version",
    "challenger_probability_good_credit",
    "challenger_decision",
    "challenger_first_reason",
)


def first_reason_of(features: Any, contributions: Any) -> str | None:
    """The champion's first reason from a logged record: the feature of the most negative contribution.

    Contributions are logged in the schema's order, which is the order of the logged features; ties go
    to the earlier feature (as creditwatch_model.explain.reasons ranks them). None when not explained,
    or when nothing lowered P(good).
    """
    if isinstance(contributions, str):
        contributions = json.loads(contributions)
    if isinstance(features, str):
        features = json.loads(features)
    if not contributions or not features or len(contributions) != len(features):
        return None
    lowest, at = min((c, i) for i, c in enumerate(contributions))
    return list(features)[at] if lowest < 0.0 else None


# The most rejected fields one record keeps (the answer's error details are capped the same way).
MAX_REJECTED = 20


class RejectedField(BaseModel):
    """One problem of a rejected request, as the log keeps it: the field's name, where, and the error type."""

    field: str | None = None
    location: list[str | int] = []
    type: str


class LogRecord(BaseModel):
    """One line of the prediction log: a request, or one application of a batch request."""

    prediction_id: str = Field(default_factory=uuid7)
    request_id: str
    kind: RecordKind = "request"
    route: str
    method: str = "POST"
    status: int
    latency_ms: float
    model_version: str
    features: dict[str, Any] | None = None
    # Each feature's contribution to P(good), in the model schema's order, rounded to 1e-6: with
    # `features` (and the model version's base value), the record's reasons can be rebuilt from the log.
    contributions: list[float] | None = None
    probability_good_credit: float | None = None
    prediction: int | None = None
    decision: str | None = None
    risk_level: str | None = None
    error_class: str | None = None
    error_detail: str | None = None
    # A rejected request: which fields were wrong, where and how (never their values), and how big the
    # body was; `rejected_count` counts every problem, `rejected_fields` keeps the first MAX_REJECTED.
    rejected_fields: list[RejectedField] | None = None
    rejected_count: int | None = None
    body_bytes: int | None = None
    # Written by versions before 2026-11 (the rejected body verbatim): read back, never written again.
    raw_body: str | None = None
    batch_size: int | None = None
    batch_index: int | None = None
    # A request sent with an Idempotency-Key: where its answer (this record's decision and reasons among
    # them) is kept for retries, so that `creditwatch log erase` deletes that copy too. A hash, not the key.
    idempotency_table: str | None = None
    idempotency_pk: str | None = None
    # Not an applicant: what sent it (`probe`, `deploy-gate`); drift, fairness, quality, alerts and the
    # lake never read such a record.
    synthetic: str | None = None
    # Shadow scoring (CHALLENGER_FIELDS): never part of the answer, only of the record.
    challenger_version: str | None = None
    challenger_probability_good_credit: float | None = None
    challenger_decision: str | None = None
    challenger_first_reason: str | None = None
    # A referred application (answered `refer`; `decision` stays the model's): its review case and the
    # rules that referred it (creditwatch_common/review.py).
    case_id: str | None = None
    referral: list[str] | None = None

    @property
    def millis(self) -> int:
        """Unix milliseconds of the record, from its id."""
        return uuid7_millis(self.prediction_id)

    @property
    def timestamp(self) -> str:
        """UTC ISO 8601 time of the record."""
        return iso_millis(self.millis)


class StoredRecord(LogRecord):
    """A record as the table holds it: the fields, plus its keys, time and expiry."""

    pk: str
    sk: str
    ts: str
    expires_at: int | None = None
    # Set by POST /outcomes (creditwatch_common/outcomes.py): the outcome, and the ones it corrected.
    outcome: str | None = None
    outcome_observed_at: str | None = None
    outcome_recorded_at: str | None = None
    outcome_history: list[dict[str, Any]] | None = None
    # Set by a reviewer's decision on the record's case (creditwatch_common/review.py); `override`: it differs
    # from the model's `decision`.
    final_decision: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    override: bool | None = None

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> StoredRecord:
        """From an item's plain values (features decoded, legacy names mapped)."""
        return cls.model_validate(normalise(values))


def normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Plain item values in today's shape: features and contributions decoded from JSON text, old names renamed."""
    for key in ("features", "contributions", "rejected_fields"):
        if isinstance(values.get(key), str):
            values[key] = json.loads(values[key])
    if LEGACY_PROBABILITY in values:
        legacy = values.pop(LEGACY_PROBABILITY)
        values.setdefault("probability_good_credit", legacy)
    return values


class Row(Protocol):
    """A typed row read back from the log: the attributes it needs, and how to build it."""

    ATTRIBUTES: ClassVar[tuple[str, ...] | None]

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> Self:
        """Build the row from an item's plain values."""
        ...


@dataclass(frozen=True, slots=True)
class ScoredRow:
    """A scored application as the drift and quality jobs read it."""

    # The legacy name is projected too, so that records of earlier versions still read back.
    ATTRIBUTES: ClassVar[tuple[str, ...] | None] = (
        "prediction_id",
        "features",
        "probability_good_credit",
        LEGACY_PROBABILITY,
        "decision",
        "model_version",
        "ts",
        "contributions",
        *CHALLENGER_FIELDS,
        "referral",
        "final_decision",
    )

    prediction_id: str
    features: dict[str, Any]
    probability_good_credit: float | None
    decision: str | None
    model_version: str
    ts: str | None = None
    # The champion's first reason (from its logged contributions: explained answers only).
    first_reason: str | None = None
    challenger_version: str | None = None
    challenger_probability_good_credit: float | None = None
    challenger_decision: str | None = None
    challenger_first_reason: str | None = None
    # The rules that referred the application to a reviewer, comma-joined (None: not referred).
    referral: str | None = None
    # A reviewer's decision on the referred case (None: nobody decided; `decision` stays the model's).
    final_decision: str | None = None

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> ScoredRow:
        """From an item's plain values."""
        v = normalise(values)
        features = v.get("features") or {}
        return cls(
            prediction_id=str(v["prediction_id"]),
            features=features,
            probability_good_credit=v.get("probability_good_credit"),
            decision=v.get("decision"),
            model_version=str(v.get("model_version", "unknown")),
            ts=v.get("ts"),
            first_reason=first_reason_of(features, v.get("contributions")),
            challenger_version=v.get("challenger_version"),
            challenger_probability_good_credit=_float_or_none(v.get("challenger_probability_good_credit")),
            challenger_decision=v.get("challenger_decision"),
            challenger_first_reason=v.get("challenger_first_reason"),
            referral=referral_text(v.get("referral")),
            final_decision=v.get("final_decision"),
        )


def referral_text(value: Any) -> str | None:
    """The referral rules of a record as one text ('band,audit'), as the lake keeps them; None when not referred."""
    if not value:
        return None
    return ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A request's outcome as the alerts job reads it."""

    ATTRIBUTES: ClassVar[tuple[str, ...] | None] = ("status", "latency_ms", "route")

    status: int
    latency_ms: float | None
    # Which route answered: the alerts judge scoring traffic, not POST /outcomes nor the review routes.
    route: str | None = None

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> RequestRow:
        """From an item's plain values."""
        latency = values.get("latency_ms")
        return cls(
            status=int(values.get("status", 0)),
            latency_ms=None if latency is None else float(latency),
            route=values.get("route"),
        )

    @property
    def scoring(self) -> bool:
        """Whether the request counts as scoring traffic (every route but the outcomes route)."""
        return self.route not in OUTCOME_ROUTES and self.route not in REVIEW_ROUTES


@dataclass(frozen=True, slots=True)
class ExportRow:
    """A record as the lake export reads it: every attribute but the raw body and the error text."""

    ATTRIBUTES: ClassVar[tuple[str, ...] | None] = (
        "prediction_id",
        "ts",
        "request_id",
        "kind",
        "route",
        "method",
        "status",
        "latency_ms",
        "model_version",
        "error_class",
        "batch_size",
        "batch_index",
        "probability_good_credit",
        LEGACY_PROBABILITY,
        "prediction",
        "decision",
        "risk_level",
        "features",
        "contributions",
        *CHALLENGER_FIELDS,
        "referral",
    )

    values: dict[str, Any]

    @classmethod
    def from_attributes(cls, values: dict[str, Any]) -> ExportRow:
        """From an item's plain values (its time from the id when an old item has no ts)."""
        v = normalise(values)
        if not v.get("ts"):
            v["ts"] = iso_millis(uuid7_millis(str(v["prediction_id"])))
        return cls(values=v)


class FullRow(StoredRecord):
    """Every attribute of a record (what `creditwatch log` prints)."""

    ATTRIBUTES: ClassVar[tuple[str, ...] | None] = None
