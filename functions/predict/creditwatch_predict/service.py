"""Scoring and log-record logic, free of HTTP and AWS details."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from creditwatch_common.ids import iso_millis, uuid7, uuid7_millis
from creditwatch_common.prediction_log import LogRecord
from creditwatch_model import CreditModel, Score


def utc_now_iso() -> str:
    """Now, UTC, ISO 8601."""
    return datetime.now(UTC).isoformat()


class ScoredApplication:
    """An application with its score, its id and its log record's outputs."""

    __slots__ = ("features", "prediction_id", "score", "timestamp")

    def __init__(self, features: dict[str, Any], score: Score) -> None:
        self.features = features
        self.score = score
        self.prediction_id = uuid7()
        self.timestamp = iso_millis(uuid7_millis(self.prediction_id))

    def response(self, model_version: str) -> dict[str, Any]:
        """The API answer for this application."""
        s = self.score
        return {
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


def score_applications(model: CreditModel, applications: Sequence[dict[str, Any]]) -> list[ScoredApplication]:
    """Score validated applications (snake_case feature dicts) in one vectorised pass."""
    return [ScoredApplication(f, s) for f, s in zip(applications, model.score(applications), strict=True)]


def log_records(
    *,
    request_id: str,
    route: str,
    method: str,
    status: int,
    latency_ms: float,
    model_version: str,
    scored: Sequence[ScoredApplication],
    error_class: str | None,
    error_detail: str | None,
    raw_body: str | None = None,
) -> list[LogRecord | dict[str, Any]]:
    """The log records of one request: the request itself, plus one per application of a batch."""
    common = {"request_id": request_id, "route": route, "method": method, "model_version": model_version}
    if len(scored) == 1 and route == "/predict":
        app = scored[0]
        # A single prediction's record carries its inputs and outputs, under the prediction id.
        return [
            LogRecord(
                prediction_id=app.prediction_id,
                kind="request",
                status=status,
                latency_ms=latency_ms,
                **common,
                **_outputs(app),
            )
        ]
    records: list[LogRecord | dict[str, Any]] = [
        LogRecord(
            kind="request",
            status=status,
            latency_ms=latency_ms,
            error_class=error_class,
            error_detail=error_detail,
            raw_body=raw_body,
            batch_size=len(scored) or None,
            **common,
        )
    ]
    for i, app in enumerate(scored):
        # Plain dicts of LogRecord's fields, built from values this function produced and validated
        # already: a thousand model constructions were a third of a batch's time.
        records.append(
            dict(
                prediction_id=app.prediction_id,
                kind="application",
                status=status,
                latency_ms=latency_ms,
                batch_size=len(scored),
                batch_index=i,
                **common,
                **_outputs(app),
            )
        )
    return records


def _outputs(app: ScoredApplication) -> dict[str, Any]:
    s = app.score
    return {
        "features": app.features,
        "probability_good": s.probability_good_credit,
        "prediction": s.prediction,
        "decision": s.decision,
        "risk_level": s.risk_level,
    }
