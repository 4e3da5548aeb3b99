"""The FastAPI application: routes, precise client errors, and the request log middleware."""

# No `from __future__ import annotations`: FastAPI must see the schema-built models in signatures.
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditwatch_common.ids import uuid7
from creditwatch_common.prediction_log import LogRecord, PredictionLog, WriteOutcome
from creditwatch_model import CreditModel
from creditwatch_predict.fastjson import OrjsonResponse, OrjsonRoute
from creditwatch_predict.observability import logger, metrics
from creditwatch_predict.schemas import (
    BatchPredictionResponse,
    ErrorResponse,
    HealthResponse,
    PredictionResponse,
    build_application_model,
    build_batch_model,
)
from creditwatch_predict.service import log_records, score_applications, utc_now_iso
from creditwatch_predict.settings import PredictSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
LOG_STATE = "creditwatch_log"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON or empty body"},
    413: {"model": ErrorResponse, "description": "Too many applications in one batch"},
    415: {"model": ErrorResponse, "description": "Body is not JSON"},
    422: {"model": ErrorResponse, "description": "Invalid application: each problem listed"},
    500: {"model": ErrorResponse, "description": "Internal error (no details leak)"},
}


def _request_id(scope: Scope) -> str:
    event = scope.get("aws.event") or {}
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid) if rid else uuid7()


def _log_state(request: Request) -> dict[str, Any]:
    return request.scope.setdefault("state", {}).setdefault(LOG_STATE, {})


def error_response(
    request: Request, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """Uniform error answer; remembers the error class for the request log."""
    state = _log_state(request)
    state["error_class"] = code
    state["error_detail"] = message if not details else f"{message}: {details[0].get('message', '')}"[:500]
    body = {
        "error": {"code": code, "message": message, "details": details or []},
        "request_id": state.get("request_id", ""),
    }
    return JSONResponse(status_code=status, content=body)


def _allowed_codes(model: CreditModel, field: str | None) -> list[str] | None:
    for f in model.schema.features:
        if field in (f.name, f.alias) and f.is_categorical:
            return list(f.codes)
    return None


def _field_name(model: CreditModel, loc: tuple[Any, ...]) -> str | None:
    """The snake_case feature name of an error location, whichever spelling the client used."""
    parts = [p for p in loc if p != "body" and not isinstance(p, int)]
    if not parts:
        return None
    last = str(parts[-1])
    for f in model.schema.features:
        if last in (f.name, f.alias):
            return f.name
    return last


def create_app(
    model: CreditModel,
    settings: PredictSettings,
    prediction_log: PredictionLog,
    *,
    flush_metrics_per_request: bool = False,
) -> FastAPI:
    """Build the API around a loaded model and a prediction log."""
    application_model = build_application_model(model.schema)
    batch_model = build_batch_model(application_model, settings.max_batch_size)
    app = FastAPI(
        default_response_class=OrjsonResponse,
        title="creditwatch",
        version=model.version,
        description=(
            "Credit scoring on the UCI German Credit schema. Fields are accepted in snake_case or by the "
            "seed's human-readable names; codes are UCI codes such as `A12`."
        ),
    )
    app.router.route_class = OrjsonRoute  # before the routes are declared: they take it at creation

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        content_type = request.headers.get("content-type", "")
        if any(e.get("type") == "json_invalid" for e in errors):
            err = next(e for e in errors if e.get("type") == "json_invalid")
            loc = tuple(err.get("loc", ()))
            at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
            msg = f"Malformed JSON{at}: {err.get('ctx', {}).get('error', 'cannot parse')}"
            return error_response(request, 400, "invalid_json", msg)
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            return error_response(request, 400, "empty_body", "The request body is empty: send a JSON object")
        if content_type and "json" not in content_type.lower():
            return error_response(request, 415, "unsupported_media_type", "Send the body as application/json")
        if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
            return error_response(request, 400, "invalid_body", "The body must be a JSON object")
        for e in errors:
            if e.get("type") == "too_long" and tuple(e.get("loc", ()))[-1:] == ("applications",):
                return error_response(
                    request,
                    413,
                    "batch_too_large",
                    f"At most {settings.max_batch_size} applications per request; split the batch",
                )
        details = []
        for e in errors:
            loc = tuple(e.get("loc", ()))
            name = _field_name(model, loc)
            detail: dict[str, Any] = {
                "field": name,
                "location": [str(p) if not isinstance(p, int) else p for p in loc],
                "type": e.get("type", "invalid"),
                "message": e.get("msg", "invalid value"),
            }
            if e.get("type") in ("literal_error", "enum") and name:
                detail["allowed"] = _allowed_codes(model, name)
            if e.get("type") == "extra_forbidden":
                detail["message"] = f"Unknown field '{loc[-1]}'"
            details.append(detail)
        return error_response(request, 422, "validation_error", f"{len(details)} invalid field(s)", details)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(request, 500, "internal_error", "Internal error; quote the request_id to support")

    @app.post("/predict", response_model=PredictionResponse, responses=ERROR_RESPONSES, tags=["scoring"])
    async def predict(application: application_model, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        """Score one credit application."""
        scored = score_applications(model, [application.model_dump()])  # type: ignore[attr-defined]
        _log_state(request)["scored"] = scored
        return scored[0].response(model.version)

    @app.post("/predict-batch", response_model=BatchPredictionResponse, responses=ERROR_RESPONSES, tags=["scoring"])
    async def predict_batch(batch: batch_model, request: Request) -> JSONResponse:  # type: ignore[valid-type]
        """Score up to MAX_BATCH_SIZE applications in one request."""
        # A validated model's __dict__ is its model_dump() for these flat models of scalars, without
        # the copy (nothing mutates it), at a tenth of the cost for a batch.
        apps = [a.__dict__ for a in batch.applications]  # type: ignore[attr-defined]
        scored = score_applications(model, apps)
        _log_state(request)["scored"] = scored
        # A Response skips FastAPI's re-validation of 1,000 answers we built ourselves;
        # response_model still documents the shape in the OpenAPI schema.
        return OrjsonResponse(
            {
                "predictions": [s.response(model.version) for s in scored],
                "total_processed": len(scored),
                "model_version": model.version,
                "timestamp": utc_now_iso(),
            }
        )

    @app.get("/health", response_model=HealthResponse, tags=["operations"])
    async def health() -> dict[str, Any]:
        """Liveness, and which model is loaded."""
        return {
            "status": "healthy",
            "model_loaded": True,
            "model_name": model.name,
            "model_version": model.version,
            "timestamp": utc_now_iso(),
        }

    @app.get("/model-info", tags=["operations"])
    async def model_info() -> dict[str, Any]:
        """The model's metadata: schema, metrics, threshold, risk bands."""
        return model.metadata

    app.add_middleware(
        RequestLogMiddleware,
        model=model,
        prediction_log=prediction_log,
        settings=settings,
        flush_metrics_per_request=flush_metrics_per_request,
    )
    return app


class RequestLogMiddleware:
    """Logs every HTTP request to the prediction log and emits its metrics, whatever its outcome."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        model: CreditModel,
        prediction_log: PredictionLog,
        settings: PredictSettings,
        flush_metrics_per_request: bool,
    ) -> None:
        self.app = app
        self.model = model
        self.log = prediction_log
        self.settings = settings
        self.flush = flush_metrics_per_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {}).setdefault(LOG_STATE, {})
        state["request_id"] = _request_id(scope)
        status = {"code": 500}
        body = bytearray()
        limit = self.settings.max_raw_body_logged

        async def receive_and_keep() -> Message:
            message = await receive()
            if message.get("type") == "http.request" and len(body) < limit:
                body.extend(message.get("body", b"")[: limit - len(body)])
            return message

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_and_watch)
        except Exception:
            state.setdefault("error_class", "internal_error")
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000.0
            self._record(scope, state, status["code"], latency_ms, bytes(body))

    def _record(self, scope: Scope, state: dict[str, Any], status: int, latency_ms: float, body: bytes) -> None:
        route = scope.get("path", "")
        scored = state.get("scored", []) if status < 400 else []
        batch = log_records(
            request_id=state["request_id"],
            route=route,
            method=scope.get("method", ""),
            status=status,
            latency_ms=round(latency_ms, 3),
            model_version=self.model.version,
            scored=scored,
            error_class=state.get("error_class"),
            error_detail=state.get("error_detail"),
            raw_body=body.decode("utf-8", "replace") if status >= 400 and body else None,
        )
        outcome = self.log.write(batch.records, batch.common)
        self._metrics(status, latency_ms, scored, outcome)
        if status >= 400:
            logger.info(
                "request rejected",
                extra={
                    "status": status,
                    "route": route,
                    "error_class": state.get("error_class"),
                    "request_id": state["request_id"],
                },
            )

    def _metrics(self, status: int, latency_ms: float, scored: list[Any], outcome: WriteOutcome) -> None:
        metrics.add_metric(name="Requests", unit="Count", value=1)
        metrics.add_metric(name="ClientErrors", unit="Count", value=1 if 400 <= status < 500 else 0)
        metrics.add_metric(name="ServerErrors", unit="Count", value=1 if status >= 500 else 0)
        metrics.add_metric(name="Latency", unit="Milliseconds", value=round(latency_ms, 3))
        if scored:
            approved = sum(1 for s in scored if s.score.decision == "approve")
            metrics.add_metric(name="Predictions", unit="Count", value=len(scored))
            metrics.add_metric(name="Approved", unit="Count", value=approved)
            metrics.add_metric(name="Refused", unit="Count", value=len(scored) - approved)
            mean_p = sum(s.score.probability_good_credit for s in scored) / len(scored)
            metrics.add_metric(name="ProbabilityGood", unit="None", value=round(mean_p, 6))
        if outcome.spilled:
            metrics.add_metric(name="LogRecordsSpilled", unit="Count", value=outcome.spilled)
        if outcome.logged_only:
            metrics.add_metric(name="LogRecordsLoggedOnly", unit="Count", value=outcome.logged_only)
        if outcome.spilled or outcome.logged_only:
            logger.warning("prediction log write degraded", extra={"errors": outcome.errors[:10]})
        if self.flush:
            metrics.flush_metrics()


def last_resort_logger(item: dict[str, Any]) -> None:
    """Keeps a record that neither DynamoDB nor SQS accepted in the function's log."""
    logger.error("prediction log record kept in logs only", extra={"log_record": item})


__all__ = ["LogRecord", "create_app", "last_resort_logger"]
