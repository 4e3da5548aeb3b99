"""The routes: scoring one application or a batch, outcomes of logged predictions, health and model metadata."""

# No `from __future__ import annotations`: FastAPI must see the schema-built models in signatures.
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from creditwatch_common.log.outcomes import OutcomeWriter
from creditwatch_predict.errors import OUTCOME_FIELDS, error_response
from creditwatch_predict.fastjson import OrjsonResponse, OrjsonRoute
from creditwatch_predict.health import Readiness, healthy
from creditwatch_predict.middleware import request_log
from creditwatch_predict.models import ModelProvider
from creditwatch_predict.referral import Referrals
from creditwatch_predict.rows import Applications
from creditwatch_predict.schemas import (
    BatchPredictionResponse,
    ErrorResponse,
    ExplainedPredictionResponse,
    HealthResponse,
    OutcomesRequest,
    OutcomesResponse,
)
from creditwatch_predict.service import (
    add_counterfactual,
    outcome_problems,
    record_outcomes,
    score_applications,
    utc_now_iso,
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON or empty body"},
    413: {"model": ErrorResponse, "description": "Body over the size limit, or too many applications in one batch"},
    415: {"model": ErrorResponse, "description": "Body is not JSON"},
    422: {"model": ErrorResponse, "description": "Invalid application: each problem listed"},
    500: {"model": ErrorResponse, "description": "Internal error (no details leak)"},
}
# The scoring routes take an Idempotency-Key (creditwatch_predict/idempotency.py answers these).
KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    400: {"model": ErrorResponse, "description": "Malformed JSON, empty body, or a malformed Idempotency-Key"},
    409: {"model": ErrorResponse, "description": "A request with this Idempotency-Key is still being answered"},
    422: {
        "model": ErrorResponse,
        "description": "Invalid application (each problem listed), or an Idempotency-Key used with another body",
    },
    503: {"model": ErrorResponse, "description": "The idempotency store cannot be reached: retry"},
}
IDEMPOTENCY_HELP = (
    "Any 1 to 255 printable ASCII characters, new for each new request: a retry with the same key and body "
    "within the window (24 h) gets the first answer again, and makes no second prediction"
)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x20-\x7e]+$", description=IDEMPOTENCY_HELP
    ),
]

# An explained application is ~1.8 kB of answer: 1,000 of them (~1.8 MB) stay well under the answer
# bound whatever MAX_BATCH_SIZE says (docs/api.md, "Bounds").
MAX_EXPLAINED_BATCH = 1000

COUNTERFACTUAL_HELP = (
    "For a refusal, also answer the smallest change of actionable features that the model approves "
    "(never sex, personal status, age or foreign-worker status); bounded by 10,000 candidates and 50 ms"
)


def scoring_router(
    models: ModelProvider,
    application_model: type[BaseModel],
    batch_model: type[BaseModel],
    *,
    explain: bool = True,
    referrals: Referrals | None = None,
) -> APIRouter:
    """POST /predict and /predict-batch for the request models built from the model's schema, by the champion."""
    router = APIRouter(route_class=OrjsonRoute, tags=["scoring"])

    @router.post("/predict", response_model=ExplainedPredictionResponse, responses=KEYED_RESPONSES)
    async def predict(
        application: application_model,  # type: ignore[valid-type]
        request: Request,
        counterfactual: Annotated[bool, Query(description=COUNTERFACTUAL_HELP)] = False,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Score one credit application, with its explanation and its reasons."""
        model = models.champion()
        scored = score_applications(model, [application.model_dump()], explain=explain)  # type: ignore[attr-defined]
        if counterfactual:
            add_counterfactual(model, scored[0])
        entry = request_log(request)
        entry.scored, entry.single, entry.model_version = scored, True, model.version
        if referrals is not None:
            referrals.refer(scored, entry)
        # Built and typed here (service.py); response_model documents it without re-validating it.
        return OrjsonResponse(scored[0].response(model.version))

    @router.post("/predict-batch", response_model=BatchPredictionResponse, responses=KEYED_RESPONSES)
    async def predict_batch(
        batch: batch_model,  # type: ignore[valid-type]
        request: Request,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Score up to MAX_BATCH_SIZE applications in one request."""
        # Validated dicts of the application's fields (schemas.build_batch_model); nothing mutates them.
        apps: list[dict[str, Any]] = batch.applications  # type: ignore[attr-defined]
        if batch.explain and len(apps) > MAX_EXPLAINED_BATCH:  # type: ignore[attr-defined]
            message = f"At most {MAX_EXPLAINED_BATCH} applications per request with explain: true; split the batch"
            return error_response(request, 413, "batch_too_large", message)
        model = models.champion()
        columns = apps.columns if isinstance(apps, Applications) else None
        scored = score_applications(model, apps, explain=batch.explain, columns=columns)  # type: ignore[attr-defined]
        entry = request_log(request)
        entry.scored, entry.model_version = scored, model.version
        if referrals is not None:
            referrals.refer(scored, entry)
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

    return router


DEEP_HELP = "Also check the log table and the spill queue (within 1.5 s): 503 with what is down"


def operations_router(models: ModelProvider, readiness: Readiness | None = None) -> APIRouter:
    """GET /health (liveness; readiness with ?deep=true) and /model-info."""
    router = APIRouter(route_class=OrjsonRoute, tags=["operations"])

    @router.get(
        "/health",
        response_model=HealthResponse,
        responses={503: {"model": HealthResponse, "description": "`?deep=true`: a dependency is down"}},
    )
    async def health(deep: Annotated[bool, Query(description=DEEP_HELP)] = False) -> JSONResponse:
        """Liveness, and which models answer; with deep=true, whether the log table and spill queue answer."""
        model = models.champion()
        answer: dict[str, Any] = {
            "status": "healthy",
            "model_loaded": True,
            "model_name": model.name,
            **models.status(),
            "timestamp": utc_now_iso(),
        }
        if not deep or readiness is None:
            return OrjsonResponse(answer)
        # Blocking AWS calls, bounded by the check's budget: off the event loop.
        checks = await run_in_threadpool(readiness.check)
        ok = healthy(checks)
        answer.update(status="healthy" if ok else "unhealthy", checks=checks)
        return OrjsonResponse(answer, status_code=200 if ok else 503)

    @router.get("/model-info")
    async def model_info() -> dict[str, Any]:
        """The champion's metadata: schema, metrics, threshold, risk bands."""
        return models.champion().metadata

    return router


OUTCOME_RESPONSES: dict[int | str, dict[str, Any]] = {
    **KEYED_RESPONSES,
    413: {"model": ErrorResponse, "description": "Body over the size limit, or more than 1,000 outcomes"},
    422: {
        "model": ErrorResponse,
        "description": (
            "Invalid outcomes (each problem listed: a malformed id, an unknown outcome value, observed_at in the "
            "future or before the prediction, an id sent twice), or an Idempotency-Key used with another body"
        ),
    },
    503: {
        "model": ErrorResponse,
        "description": (
            "Some outcomes could not be stored in time (each listed), or the idempotency store cannot be "
            "reached: retry the whole request (outcomes already stored then answer unchanged)"
        ),
    },
}


def outcomes_router(outcomes: OutcomeWriter) -> APIRouter:
    """POST /outcomes: ground truth attached to logged predictions."""
    router = APIRouter(route_class=OrjsonRoute, tags=["outcomes"])

    @router.post("/outcomes", response_model=OutcomesResponse, responses=OUTCOME_RESPONSES)
    async def post_outcomes(
        body: OutcomesRequest, request: Request, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """Record the observed outcome (good or bad) of logged predictions: one status per item, always 200.

        A different outcome already stored is the item's `conflict` (its 409, nothing changed) unless the
        item says `correction: true`. 503 when some outcomes could not be stored in time: retry.
        """
        problems = outcome_problems(body.outcomes)
        if problems:
            message = f"{len(problems)} invalid outcome(s)"
            return error_response(request, 422, "validation_error", message, problems, known=OUTCOME_FIELDS)
        entry = request_log(request)
        answer, unavailable = record_outcomes(outcomes, body.outcomes, entry.deadline)
        entry.outcome_counts = answer["counts"]
        if unavailable:
            message = (
                f"{len(unavailable)} of {len(body.outcomes)} outcome(s) could not be stored in time; retry the "
                "request (outcomes already stored answer unchanged)"
            )
            response = error_response(request, 503, "outcomes_unavailable", message, unavailable, known=OUTCOME_FIELDS)
            response.headers["retry-after"] = "1"
            return response
        return OrjsonResponse(answer)

    return router
