"""Precise client errors: every failure becomes one JSON shape with a machine-readable code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditwatch_common.observability import Observability
from creditwatch_model import FeatureSchema
from creditwatch_predict.middleware import request_log


def error_response(
    request: Request, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """Uniform error answer; tells the request log which error it was."""
    entry = request_log(request)
    entry.error_class = code
    entry.error_detail = message if not details else f"{message}: {details[0].get('message', '')}"[:500]
    body = {"error": {"code": code, "message": message, "details": details or []}, "request_id": entry.request_id}
    return JSONResponse(status_code=status, content=body)


def _allowed_codes(schema: FeatureSchema, field: str | None) -> list[str] | None:
    for f in schema.features:
        if field in (f.name, f.alias) and f.is_categorical:
            return list(f.codes)
    return None


def _field_name(schema: FeatureSchema, loc: tuple[Any, ...]) -> str | None:
    """The snake_case feature name of an error location, whichever spelling the client used."""
    parts = [p for p in loc if p != "body" and not isinstance(p, int)]
    if not parts:
        return None
    last = str(parts[-1])
    for f in schema.features:
        if last in (f.name, f.alias):
            return f.name
    return last


def validation_error(
    request: Request, exc: RequestValidationError, schema: FeatureSchema, max_batch_size: int
) -> JSONResponse:
    """The most precise answer for a body FastAPI could not validate."""
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
            message = f"At most {max_batch_size} applications per request; split the batch"
            return error_response(request, 413, "batch_too_large", message)
    details = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        name = _field_name(schema, loc)
        detail: dict[str, Any] = {
            "field": name,
            "location": [str(p) if not isinstance(p, int) else p for p in loc],
            "type": e.get("type", "invalid"),
            "message": e.get("msg", "invalid value"),
        }
        if e.get("type") in ("literal_error", "enum") and name:
            detail["allowed"] = _allowed_codes(schema, name)
        if e.get("type") == "extra_forbidden":
            detail["message"] = f"Unknown field '{loc[-1]}'"
        details.append(detail)
    return error_response(request, 422, "validation_error", f"{len(details)} invalid field(s)", details)


def install_error_handlers(app: FastAPI, schema: FeatureSchema, max_batch_size: int, obs: Observability) -> None:
    """Map validation errors, HTTP errors and anything unexpected to the uniform error answer."""

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error(request, exc, schema, max_batch_size)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        obs.logger.exception("unhandled error")
        return error_response(request, 500, "internal_error", "Internal error; quote the request_id to support")

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
