"""Precise client errors: every failure becomes one JSON shape with a machine-readable code."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from creditwatch_common.observability import Observability
from creditwatch_common.records import MAX_REJECTED, RejectedField
from creditwatch_model import FeatureSchema
from creditwatch_predict.fastjson import DuplicateKey
from creditwatch_predict.middleware import request_log

# Every code the API can answer (docs/api.md, "Errors", lists each: tests/unit/test_error_codes.py).
ErrorCode = Literal[
    "invalid_json",
    "duplicate_key",
    "empty_body",
    "invalid_body",
    "invalid_idempotency_key",
    "http_error",
    "not_found",
    "method_not_allowed",
    "request_in_progress",
    "body_too_large",
    "batch_too_large",
    "unsupported_media_type",
    "idempotency_key_reused",
    "validation_error",
    "internal_error",
    "answer_too_large",
    "idempotency_unavailable",
    "outcomes_unavailable",
    "unauthorized",
    "forbidden",
    "case_not_found",
    "already_decided",
    "prediction_not_logged",
    "review_unavailable",
]

# An answer lists the first MAX_ERROR_DETAILS problems and counts them all: 100,000 unknown keys
# once made a 9.7 MB answer, over Lambda's 6 MB (the client got a gateway 5xx).
MAX_ERROR_DETAILS = MAX_REJECTED
# A name the client sent is echoed back at most this long (a 1 MB key is not worth returning).
MAX_NAME_CHARS = 64
# Names of the request's structure (not features): kept in the log as they are.
# The fields of POST /outcomes (names of ours, not features).
OUTCOME_FIELDS = frozenset({"outcomes", "prediction_id", "outcome", "observed_at", "correction"})
# The fields of the review routes (names of ours).
REVIEW_FIELDS = frozenset({"decision", "reason_code", "note", "correction", "status", "limit", "cursor", "case_id"})
STRUCTURE = (
    frozenset({"body", "query", "header", "path", "applications", "explain", "counterfactual"})
    | OUTCOME_FIELDS
    | REVIEW_FIELDS
)
REDACTED = "<redacted>"


def _clip(part: str | int) -> str | int:
    """A location part short enough to echo back."""
    if isinstance(part, int) or len(part) <= MAX_NAME_CHARS:
        return part
    return part[:MAX_NAME_CHARS] + "…"


def _loggable(part: str | int, known: frozenset[str]) -> str | int:
    """A location part the log may keep: indexes, the schema's names, else a redaction marker.

    A name the schema does not know is the client's own text (a key can be an e-mail address or an
    SSN); the log keeps that an unknown field was sent and where, not what it was called.
    """
    if isinstance(part, int) or part in known or part in STRUCTURE:
        return part
    return REDACTED


def error_response(
    request: Request,
    status: int,
    code: ErrorCode,
    message: str,
    details: list[dict[str, Any]] | None = None,
    *,
    known: frozenset[str] = frozenset(),
) -> JSONResponse:
    """Uniform error answer, its details capped; tells the request log which error it was (redacted)."""
    entry = request_log(request)
    entry.error_class = code
    # Our own message only: the details' messages quote names the client chose.
    entry.error_detail = message[:500]
    details = details or []
    shown = details[:MAX_ERROR_DETAILS]
    if details:
        entry.rejected_count = len(details)
        entry.rejected = [
            RejectedField(
                field=d["field"] if d.get("field") in known else (REDACTED if d.get("field") else None),
                location=[_loggable(p, known) for p in d.get("location", [])],
                type=str(d.get("type", "invalid")),
            )
            for d in shown
        ]
    error: dict[str, Any] = {"code": code, "message": message, "details": shown}
    if len(details) > len(shown):
        error["details_count"] = len(details)
        error["details_truncated"] = True
    return JSONResponse(status_code=status, content={"error": error, "request_id": entry.request_id})


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


# /predict-batch given one application (an object of features): one problem, not one per feature.
NOT_A_BATCH: dict[str, Any] = {
    "field": "applications",
    "location": ["body", "applications"],
    "type": "not_a_batch",
    "message": 'This is one application, not a batch: POST it to /predict, or send {"applications": [...]}',
}


def _other_spelling(schema: FeatureSchema, name: str) -> str | None:
    """The field's other documented name (alias for snake_case and back), None for a name it does not have."""
    for f in schema.features:
        if name == f.alias:
            return f.name
        if name == f.name:
            return f.alias
    return None


def _one_application_as_batch(request: Request, body: Any, schema: FeatureSchema) -> bool:
    """A /predict-batch body without `applications` whose keys are features."""
    if request.url.path != "/predict-batch" or not isinstance(body, dict) or "applications" in body:
        return False
    return any(_other_spelling(schema, str(k)) is not None for k in body)


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
    known = frozenset(schema.names) | frozenset(f.alias for f in schema.features) | OUTCOME_FIELDS
    if _one_application_as_batch(request, exc.body, schema):
        return error_response(request, 422, "validation_error", "1 invalid field(s)", [NOT_A_BATCH], known=known)
    for e in errors:
        if e.get("type") == "too_long" and tuple(e.get("loc", ()))[-1:] == ("applications",):
            message = f"At most {max_batch_size} applications per request; split the batch"
            return error_response(request, 413, "batch_too_large", message)
        if e.get("type") == "too_long" and tuple(e.get("loc", ())) == ("body", "outcomes"):
            limit = (e.get("ctx") or {}).get("max_length", "1000")
            return error_response(request, 413, "batch_too_large", f"At most {limit} outcomes per request; split them")
    details: list[dict[str, Any]] = []
    for i, e in enumerate(errors):
        loc = tuple(e.get("loc", ()))
        if i >= MAX_ERROR_DETAILS:
            # Counted, not described: only the first ones are answered and logged.
            details.append({})
            continue
        name = _field_name(schema, loc)
        detail: dict[str, Any] = {
            "field": _clip(name) if name is not None else None,
            "location": [_clip(str(p)) if not isinstance(p, int) else p for p in loc],
            "type": e.get("type", "invalid"),
            "message": e.get("msg", "invalid value"),
        }
        if e.get("type") in ("literal_error", "enum") and name:
            detail["allowed"] = ["good", "bad"] if loc[:2] == ("body", "outcomes") else _allowed_codes(schema, name)
        if e.get("type") == "extra_forbidden":
            detail["message"] = f"Unknown field '{_clip(str(loc[-1]))}'"
            other = _other_spelling(schema, str(loc[-1]))
            if other is not None:
                # A documented name is "extra" only when the field came by its other name as well.
                detail["type"] = "duplicate_field"
                detail["message"] = f"'{loc[-1]}' and '{other}' are two names of one field; send one of them"
        details.append(detail)
    return error_response(request, 422, "validation_error", f"{len(details)} invalid field(s)", details, known=known)


def install_error_handlers(app: FastAPI, schema: FeatureSchema, max_batch_size: int, obs: Observability) -> None:
    """Map validation errors, HTTP errors and anything unexpected to the uniform error answer."""

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error(request, exc, schema, max_batch_size)

    known = frozenset(schema.names) | frozenset(f.alias for f in schema.features) | OUTCOME_FIELDS

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if isinstance(exc, DuplicateKey):
            message = f"Key '{_clip(exc.key)}' appears twice in one JSON object; send it once"
            detail = {"field": _clip(exc.key), "location": ["body"], "type": "duplicate_key", "message": message}
            return error_response(request, 400, "duplicate_key", exc.detail, [detail], known=known)
        codes: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        response = error_response(request, exc.status_code, code, str(exc.detail))
        # Starlette's own headers, e.g. the `Allow` of a 405 (RFC 9110 requires it).
        response.headers.update(exc.headers or {})
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        obs.logger.exception("unhandled error")
        return error_response(request, 500, "internal_error", "Internal error; quote the request_id to support")

    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
