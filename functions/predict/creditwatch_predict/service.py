"""Scoring, explanations and log-record logic, free of HTTP and AWS details."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

import numpy as np
import orjson

from creditwatch_common.ids import iso_millis, uuid7_millis, uuid7s
from creditwatch_common.log.outcomes import OutcomeInput, OutcomeWriter
from creditwatch_common.outcomes import OutcomeStatus
from creditwatch_common.records import LogRecord, RejectedField
from creditwatch_model import CreditModel, Score
from creditwatch_model.explain import Reason, reasons

if TYPE_CHECKING:
    from creditwatch_predict.schemas import OutcomeItem

# Contributions are logged, and reasons ranked, to 1e-6 of probability: a notice never needs more.
LOGGED_DECIMALS = 6


def utc_now_iso() -> str:
    """Now, UTC, ISO 8601."""
    return datetime.now(UTC).isoformat()


class ScoredApplication:
    """An application with its score, its id, its explanation when asked, and its log record's outputs."""

    __slots__ = (
        "case_id",
        "challenger",
        "contributions",
        "counterfactual",
        "explanation",
        "features",
        "prediction_id",
        "reasons",
        "referral",
        "score",
        "timestamp",
    )

    def __init__(self, features: dict[str, Any], score: Score, prediction_id: str, timestamp: str) -> None:
        self.features = features
        self.score = score
        self.prediction_id = prediction_id
        self.timestamp = timestamp
        # Set by explain_scored() and add_counterfactual(); None when not asked for.
        self.explanation: dict[str, Any] | None = None
        self.reasons: list[Reason] | None = None
        self.contributions: list[float] | None = None
        self.counterfactual: dict[str, Any] | None = None
        # The shadow challenger's (P(good), decision, first reason), for the log only: never in response().
        self.challenger: tuple[float, str, str | None] | None = None
        # Set by referral.Referrals.refer() when a person must decide: the case and the rules that referred it.
        self.case_id: str | None = None
        self.referral: list[str] | None = None

    def response(self, model_version: str) -> dict[str, Any]:
        """The API answer for this application."""
        s = self.score
        out: dict[str, Any] = {
            "prediction": s.prediction,
            "probability_good_credit": s.probability_good_credit,
            "probability_bad_credit": s.probability_bad_credit,
            "decision": s.decision,
            "risk_level": s.risk_level,
            "confidence": s.confidence,
            "model_version": model_version,
            "prediction_id": self.prediction_id,
            "timestamp": self.timestamp,
        }
        if self.explanation is not None:
            out["explanation"] = self.explanation
            out["reasons"] = self.reasons
        if self.counterfactual is not None:
            out["counterfactual"] = self.counterfactual
        if self.case_id is not None:
            out.update(decision="refer", model_decision=s.decision, case_id=self.case_id, referral=self.referral)
        return out


def score_applications(
    model: CreditModel,
    applications: Sequence[dict[str, Any]],
    *,
    explain: bool = False,
    columns: Mapping[str, Sequence[Any]] | None = None,
) -> list[ScoredApplication]:
    """Score validated applications (snake_case feature dicts) in one vectorised pass; explain them if asked.

    `columns`: the same applications' values by feature name, when validation had them (rows.Applications).
    """
    scores = model.score(applications, columns)
    # One scoring instant for the whole batch: its ids share the millisecond (their random tails
    # keep them unique) and the ISO timestamp is formatted once, from the per-second cache.
    now_ms = int(time.time() * 1000)
    timestamp = iso_millis(now_ms)
    ids = uuid7s(len(scores), now_ms)
    scored = [ScoredApplication(*a, timestamp) for a in zip(applications, scores, ids, strict=True)]
    if explain:
        explain_scored(model, scored)
    return scored


def explain_scored(model: CreditModel, scored: Sequence[ScoredApplication]) -> None:
    """Attach each application's exact contributions, its reasons, and the contributions the log keeps."""
    base_value, phi = model.explain([s.features for s in scored])
    names = model.schema.names
    # The log keeps the contributions rounded to 1e-6 and the reasons are ranked on those same values,
    # so that a notice rebuilt from the log (reasons_from_record) is the one the applicant was given.
    rounded = np.round(phi, LOGGED_DECIMALS).tolist()
    for s, exact, logged in zip(scored, phi.tolist(), rounded, strict=True):
        s.explanation = {"base_value": base_value, "contributions": dict(zip(names, exact, strict=True))}
        s.contributions = logged
        s.reasons = reasons(model.schema, s.features, logged)


def add_counterfactual(model: CreditModel, scored: ScoredApplication) -> None:
    """Attach the smallest actionable change that the model approves (bounded: see counterfactual.py)."""
    from creditwatch_model.counterfactual import counterfactual

    found = counterfactual(model, scored.features)
    scored.counterfactual = {
        "status": found.status,
        "changes": [
            {"feature": c.feature, "label": c.label, "from": c.from_value, "to": c.to_value, "meaning": c.meaning}
            for c in found.changes
        ],
        "probability_good_credit": found.probability_good_credit,
        "message": found.message,
        "candidates_scored": found.candidates_scored,
    }


class LogBatch(NamedTuple):
    """The log records of one request, the fields all of them share, and a batch's application records by column."""

    records: list[LogRecord | dict[str, Any]]
    common: dict[str, Any]
    # One list per field, one value per application (None: the application's record lacks the field).
    columns: dict[str, list[Any]] | None = None


def log_records(
    *,
    request_id: str,
    route: str,
    method: str,
    status: int,
    latency_ms: float,
    model_version: str,
    scored: Sequence[ScoredApplication],
    single: bool,
    error_class: str | None,
    error_detail: str | None,
    rejected_fields: list[RejectedField] | None = None,
    rejected_count: int | None = None,
    body_bytes: int | None = None,
    idempotency: tuple[str, str] | None = None,
    synthetic: str | None = None,
    challenger_version: str | None = None,
) -> LogBatch:
    """The log records of one request: one record for a single prediction, else the request plus one per application.

    `idempotency`: the table and key of the item keeping the request's answer, written on its records.
    `challenger_version`: the shadow challenger's, when one is set: on every scored record, with its answer
    where it scored the application (ScoredApplication.challenger).
    """
    common: dict[str, Any] = {
        "request_id": request_id,
        "route": route,
        "method": method,
        "model_version": model_version,
    }
    if idempotency is not None and scored:
        common["idempotency_table"], common["idempotency_pk"] = idempotency
    if synthetic is not None:
        common["synthetic"] = synthetic
    if single and len(scored) == 1:
        app = scored[0]
        # A single prediction's record carries its inputs and outputs, under the prediction id.
        return LogBatch(
            [
                LogRecord(
                    prediction_id=app.prediction_id,
                    kind="request",
                    status=status,
                    latency_ms=latency_ms,
                    features=app.features,
                    contributions=app.contributions,
                    case_id=app.case_id,
                    referral=app.referral,
                    **common,
                    **_outputs(app.score),
                    **_challenger(challenger_version, app.challenger),
                )
            ],
            common,
        )
    records: list[LogRecord | dict[str, Any]] = [
        LogRecord(
            kind="request",
            status=status,
            latency_ms=latency_ms,
            error_class=error_class,
            error_detail=error_detail,
            rejected_fields=rejected_fields,
            rejected_count=rejected_count,
            body_bytes=body_bytes,
            batch_size=len(scored) or None,
            **common,
        )
    ]
    if not scored:
        return LogBatch(records, common)
    # The applications' records a field at a time, from values this function produced and validated
    # already (a thousand model constructions were a third of a batch's time; a thousand dicts of
    # fields, then items built field by field, another sixth), with the fields they share written once.
    common = {**common, "kind": "application", "status": status, "latency_ms": latency_ms, "batch_size": len(scored)}
    if challenger_version is not None:
        common["challenger_version"] = challenger_version
    scores = [app.score for app in scored]
    # Encoded here as the log stores them (compact JSON text), by orjson: stdlib json spent 3 ms on a
    # batch's features.
    dumps = orjson.dumps
    columns: dict[str, list[Any]] = {
        "prediction_id": [app.prediction_id for app in scored],
        "batch_index": list(range(len(scored))),
        "features": [dumps(app.features).decode() for app in scored],
        "probability_good_credit": [s.probability_good_credit for s in scores],
        "prediction": [s.prediction for s in scores],
        "decision": [s.decision for s in scores],
        "risk_level": [s.risk_level for s in scores],
    }
    if any(app.contributions is not None for app in scored):
        columns["contributions"] = [
            None if app.contributions is None else dumps(app.contributions).decode() for app in scored
        ]
    if any(app.challenger is not None for app in scored):
        shadow = [app.challenger or (None, None, None) for app in scored]
        columns["challenger_probability_good_credit"] = [a[0] for a in shadow]
        columns["challenger_decision"] = [a[1] for a in shadow]
        columns["challenger_first_reason"] = [a[2] for a in shadow]
    if any(app.case_id is not None for app in scored):
        columns["case_id"] = [app.case_id for app in scored]
        columns["referral"] = [app.referral for app in scored]
    return LogBatch(records, common, columns)


def _challenger(version: str | None, answer: tuple[float, str, str | None] | None) -> dict[str, Any]:
    if version is None:
        return {}
    if answer is None:
        return {"challenger_version": version}
    return {
        "challenger_version": version,
        "challenger_probability_good_credit": answer[0],
        "challenger_decision": answer[1],
        "challenger_first_reason": answer[2],
    }


def _outputs(s: Score) -> dict[str, Any]:
    return {
        "probability_good_credit": s.probability_good_credit,
        "prediction": s.prediction,
        "decision": s.decision,
        "risk_level": s.risk_level,
    }


# observed_at may be this far in the future, or before the prediction's own time: the clocks of the
# lender's systems and ours are not the same clock.
CLOCK_SKEW_S = 300


def outcome_problems(items: Sequence[OutcomeItem], now: datetime | None = None) -> list[dict[str, Any]]:
    """What the outcome schema cannot say: ids sent twice, observed_at in the future or before the prediction."""
    now = now or datetime.now(UTC)
    latest_ms = int(now.timestamp() * 1000) + CLOCK_SKEW_S * 1000
    first: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        at = ["body", "outcomes", i]
        if item.prediction_id in first:
            problems.append(
                {
                    "field": "prediction_id",
                    "location": [*at, "prediction_id"],
                    "type": "duplicate",
                    "message": f"This prediction_id is also item {first[item.prediction_id]}: send each once",
                }
            )
        first.setdefault(item.prediction_id, i)
        observed_ms = int(item.observed_at.timestamp() * 1000)
        if observed_ms > latest_ms:
            message = f"observed_at is in the future (more than {CLOCK_SKEW_S} s ahead of the server's clock)"
            problems.append(
                {"field": "observed_at", "location": [*at, "observed_at"], "type": "in_future", "message": message}
            )
        elif observed_ms < uuid7_millis(item.prediction_id) - CLOCK_SKEW_S * 1000:
            message = f"observed_at is before the prediction was made ({iso_millis(uuid7_millis(item.prediction_id))})"
            problems.append(
                {
                    "field": "observed_at",
                    "location": [*at, "observed_at"],
                    "type": "before_prediction",
                    "message": message,
                }
            )
    return problems


def record_outcomes(
    writer: OutcomeWriter, items: Sequence[OutcomeItem], deadline: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answer of POST /outcomes, and the items that could not be stored in time (as error details)."""
    results = writer.record(
        [OutcomeInput(i.prediction_id, i.outcome, i.observed_at, i.correction) for i in items], deadline
    )
    counts = dict.fromkeys(get_args(OutcomeStatus), 0)
    unavailable = []
    for n, r in enumerate(results):
        if r.status == "unavailable":
            unavailable.append(
                {
                    "field": "prediction_id",
                    "location": ["body", "outcomes", n],
                    "type": "unavailable",
                    "message": f"{r.prediction_id}: not stored in time",
                }
            )
        else:
            counts[r.status] += 1
    answer = {
        "results": [{"prediction_id": r.prediction_id, "status": r.status, "outcome": r.outcome} for r in results],
        "counts": counts,
    }
    return answer, unavailable
