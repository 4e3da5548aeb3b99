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
# Where the request's log records went: written, spilled (replayed later), or logged-only (the
# decision stands; the record is only in CloudWatch Logs until someone replays it from there).
LOG_HEADER = b"x-prediction-log"


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
        response_reserve_s: float,
        write_budget_s: float,
    ) -> None:
        self.app = app
        self.model_version = model_version
        self.writer = writer
        self.obs = obs
        self.body_limit = max_raw_body_logged
        self.flush = flush_metrics_per_request
        self.response_reserve_s = response_reserve_s
        self.write_budget_s = write_budget_s

    def _deadline(self, scope: Scope, now: float) -> float:
        """When the log write must be over: the Lambda's remaining time less what answering needs."""
        context = scope.get("aws.context")
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:  # not on Lambda (creditwatch serve): a budget of our own
            return now + self.write_budget_s
        return now + remaining() / 1000.0 - self.response_reserve_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry: run the app, write the request's records, then answer, saying where they went."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        deadline = self._deadline(scope, time.monotonic())
        entry = RequestLog(request_id=_request_id(scope))
        State(scope.setdefault("state", {})).log = entry
        status = 500
        body = bytearray()
        limit = self.body_limit
        # The answer is held until the log write is over, so that its header can say where the record
        # went (Mangum buffers the whole answer anyway).
        held: list[Message] = []

        async def receive_and_keep() -> Message:
            message = await receive()
            if message.get("type") == "http.request" and len(body) < limit:
                body.extend(message.get("body", b"")[: limit - len(body)])
            return message

        async def hold(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            held.append(message)

        try:
            await self.app(scope, receive_and_keep, hold)
        except Exception:
            if entry.error_class is None:
                entry.error_class = "internal_error"
            latency_ms = (time.perf_counter() - started) * 1000.0
            self._record(scope, entry, status, latency_ms, bytes(body), deadline)
            raise
        latency_ms = (time.perf_counter() - started) * 1000.0
        outcome = self._record(scope, entry, status, latency_ms, bytes(body), deadline)
        for message in held:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (LOG_HEADER, outcome.where.encode())]}
            await send(message)

    def _record(
        self, scope: Scope, entry: RequestLog, status: int, latency_ms: float, body: bytes, deadline: float
    ) -> WriteOutcome:
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
        outcome = self.writer.write(batch.records, batch.common, deadline)
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
        return outcome

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
