"""The request log: every HTTP request, whatever its outcome, in the prediction log, with its metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request

from creditwatch_common.ids import uuid7
from creditwatch_common.log import LogWriter, WriteOutcome
from creditwatch_common.observability import Metric, Observability
from creditwatch_predict.service import ScoredApplication, log_records

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class RequestLog:
    """What one request tells the log: filled by the route or the error handler, written by the middleware."""

    request_id: str
    scored: list[ScoredApplication] = field(default_factory=list)
    # A /predict answer: one record carrying the request, its inputs and its outputs.
    single: bool = False
    error_class: str | None = None
    error_detail: str | None = None


def request_log(request: Request) -> RequestLog:
    """The request's log entry, which the middleware put on request.state."""
    entry = request.state.log
    if not isinstance(entry, RequestLog):  # pragma: no cover - only if the middleware is missing
        raise TypeError("RequestLogMiddleware is not installed")
    return entry


def _request_id(scope: Scope) -> str:
    event = scope.get("aws.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else uuid7()


class RequestLogMiddleware:
    """Logs every HTTP request to the prediction log and emits its metrics, whatever its outcome."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        model_version: str,
        writer: LogWriter,
        obs: Observability,
        max_raw_body_logged: int,
        flush_metrics_per_request: bool,
    ) -> None:
        self.app = app
        self.model_version = model_version
        self.writer = writer
        self.obs = obs
        self.body_limit = max_raw_body_logged
        self.flush = flush_metrics_per_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: run the app, then write the request's records and metrics."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        entry = RequestLog(request_id=_request_id(scope))
        State(scope.setdefault("state", {})).log = entry
        status = 500
        body = bytearray()
        limit = self.body_limit

        async def receive_and_keep() -> Message:
            message = await receive()
            if message.get("type") == "http.request" and len(body) < limit:
                body.extend(message.get("body", b"")[: limit - len(body)])
            return message

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_and_watch)
        except Exception:
            if entry.error_class is None:
                entry.error_class = "internal_error"
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000.0
            self._record(scope, entry, status, latency_ms, bytes(body))

    def _record(self, scope: Scope, entry: RequestLog, status: int, latency_ms: float, body: bytes) -> None:
        route = scope.get("path", "")
        scored = entry.scored if status < 400 else []
        batch = log_records(
            request_id=entry.request_id,
            route=route,
            method=scope.get("method", ""),
            status=status,
            latency_ms=round(latency_ms, 3),
            model_version=self.model_version,
            scored=scored,
            single=entry.single,
            error_class=entry.error_class,
            error_detail=entry.error_detail,
            raw_body=body.decode("utf-8", "replace") if status >= 400 and body else None,
        )
        outcome = self.writer.write(batch.records, batch.common)
        self._metrics(status, latency_ms, scored, outcome)
        if status >= 400:
            self.obs.logger.info(
                "request rejected",
                extra={
                    "status": status,
                    "route": route,
                    "error_class": entry.error_class,
                    "request_id": entry.request_id,
                },
            )

    def _metrics(self, status: int, latency_ms: float, scored: list[ScoredApplication], outcome: WriteOutcome) -> None:
        metric = self.obs.metric
        metric(Metric.REQUESTS, 1)
        metric(Metric.CLIENT_ERRORS, 1 if 400 <= status < 500 else 0)
        metric(Metric.SERVER_ERRORS, 1 if status >= 500 else 0)
        metric(Metric.LATENCY, round(latency_ms, 3), "Milliseconds")
        if scored:
            approved = sum(1 for s in scored if s.score.decision == "approve")
            metric(Metric.PREDICTIONS, len(scored))
            metric(Metric.APPROVED, approved)
            metric(Metric.REFUSED, len(scored) - approved)
            mean_p = sum(s.score.probability_good_credit for s in scored) / len(scored)
            metric(Metric.PROBABILITY_GOOD, round(mean_p, 6), "None")
        if outcome.spilled:
            metric(Metric.LOG_RECORDS_SPILLED, outcome.spilled)
        if outcome.logged_only:
            metric(Metric.LOG_RECORDS_LOGGED_ONLY, outcome.logged_only)
        if outcome.spilled or outcome.logged_only:
            self.obs.logger.warning("prediction log write degraded", extra={"errors": outcome.errors[:10]})
        if self.flush:
            self.obs.metrics.flush_metrics()
