"""The review routes: the queue, a case, a decision (a reviewer's token), and the reviewer's page."""

# No `from __future__ import annotations`: FastAPI must see the models in signatures.
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from creditwatch_common.log import LogReader
from creditwatch_common.log.reviews import ReviewStore, ReviewUnavailable
from creditwatch_common.observability import Metric, Observability
from creditwatch_common.review import CASE_ID_PATTERN
from creditwatch_model import CreditModel
from creditwatch_predict.errors import error_response
from creditwatch_predict.fastjson import OrjsonResponse, OrjsonRoute
from creditwatch_predict.middleware import request_log
from creditwatch_predict.review_auth import AuthError, Reviewer, ReviewerAuth
from creditwatch_predict.review_page import asset_response, page_response
from creditwatch_predict.review_service import case_detail, queue_items, record_decision, refusal
from creditwatch_predict.schemas import (
    ErrorResponse,
    ReviewCaseDetail,
    ReviewCaseResponse,
    ReviewDecisionRequest,
    ReviewListResponse,
)

CaseId = Annotated[str, Path(pattern=CASE_ID_PATTERN, description="The case_id a referred answer gave")]
Authorization = Annotated[
    str | None, Header(description="Bearer <JWT> of a member of the reviewer group (ReviewerGroup)")
]
# When the review store does not answer in time: how long to wait before retrying.
RETRY_AFTER_S = "2"

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No token, or one that is not valid (signature, issuer, expiry)"},
    403: {"model": ErrorResponse, "description": "The token's user is not in the reviewer group"},
    503: {"model": ErrorResponse, "description": "The review store or the issuer's keys did not answer: retry"},
}


def _unavailable(request: Request, message: str) -> JSONResponse:
    response = error_response(request, 503, "review_unavailable", message)
    response.headers["retry-after"] = RETRY_AFTER_S
    return response


def review_router(
    model: CreditModel, store: ReviewStore, reader: LogReader, auth: ReviewerAuth, obs: Observability
) -> APIRouter:
    """GET /reviews, GET and POST /reviews/{case_id}, GET /review (the page) and its assets."""
    router = APIRouter(route_class=OrjsonRoute, tags=["review"])

    def reviewer(request: Request, authorization: str | None, route: str) -> Reviewer | JSONResponse:
        entry = request_log(request)
        entry.route = route
        try:
            return auth.identify(authorization)
        except AuthError as exc:
            response = error_response(request, exc.status, exc.code, exc.message)  # type: ignore[arg-type]
            if exc.status == 503:
                response.headers["retry-after"] = RETRY_AFTER_S
            return response

    @router.get("/reviews", response_model=ReviewListResponse, responses=AUTH_RESPONSES)
    async def list_cases(
        request: Request,
        status: Annotated[Literal["pending"], Query(description="The queue: cases no one has decided")] = "pending",
        limit: Annotated[int, Query(ge=1, le=100, description="Cases per page")] = 50,
        cursor: Annotated[str | None, Query(max_length=2048, description="next_cursor of the page before")] = None,
        authorization: Authorization = None,
    ) -> JSONResponse:
        """The pending cases, oldest first, a page at a time; each with its age."""
        who = reviewer(request, authorization, "/reviews")
        if isinstance(who, JSONResponse):
            return who
        deadline = request_log(request).deadline
        try:
            cases, nxt = await run_in_threadpool(store.pending, limit, cursor, deadline)
        except ValueError:
            detail = {"field": "cursor", "location": ["query", "cursor"], "type": "invalid", "message": "Not a cursor"}
            return error_response(request, 422, "validation_error", "1 invalid field(s)", [detail])
        except ReviewUnavailable as exc:
            return _unavailable(request, str(exc))
        items = queue_items(cases)
        return OrjsonResponse({"cases": items, "next_cursor": nxt})

    @router.get(
        "/reviews/{case_id}",
        response_model=ReviewCaseDetail,
        responses={**AUTH_RESPONSES, 404: {"model": ErrorResponse, "description": "No such case"}},
    )
    async def get_case(request: Request, case_id: CaseId, authorization: Authorization = None) -> JSONResponse:
        """A case: the application, the model's decision, P(good), its reasons and a counterfactual."""
        who = reviewer(request, authorization, "/reviews/{case_id}")
        if isinstance(who, JSONResponse):
            return who
        deadline = request_log(request).deadline
        try:
            case = await run_in_threadpool(store.get, case_id, deadline)
            if case is None:
                return error_response(request, 404, "case_not_found", f"No review case {case_id}")
            record = await run_in_threadpool(reader.get, case.prediction_id)
        except ReviewUnavailable as exc:
            return _unavailable(request, str(exc))
        return OrjsonResponse(case_detail(model, case, record))

    @router.post(
        "/reviews/{case_id}",
        response_model=ReviewCaseResponse,
        responses={
            **AUTH_RESPONSES,
            404: {"model": ErrorResponse, "description": "No such case"},
            409: {
                "model": ErrorResponse,
                "description": "Already decided (the first decision is in details), or the prediction's record "
                "is not in the log yet",
            },
            422: {"model": ErrorResponse, "description": "A decision other than approve or refuse, an unknown reason"},
            503: {"model": ErrorResponse, "description": "Nothing was recorded in time: retry (Retry-After)"},
        },
    )
    async def decide(
        request: Request, case_id: CaseId, body: ReviewDecisionRequest, authorization: Authorization = None
    ) -> JSONResponse:
        """Decide a case once (approve or refuse, with a reason code); `correction: true` changes a decision."""
        who = reviewer(request, authorization, "/reviews/{case_id}")
        if isinstance(who, JSONResponse):
            return who
        deadline = request_log(request).deadline
        try:
            result = await run_in_threadpool(lambda: record_decision(store, case_id, body, who.name, "api", deadline))
        except ReviewUnavailable as exc:
            return _unavailable(request, str(exc))
        refused = refusal(result, case_id)
        if refused is not None:
            if refused.code != "already_decided" or result.case is None:
                return error_response(request, refused.status, refused.code, refused.message)  # type: ignore[arg-type]
            detail = {"field": "decision", "location": ["body", "decision"], "type": refused.code}
            response = error_response(
                request, 409, "already_decided", refused.message, [{**detail, "message": refused.message}]
            )
            # The first decision, whole, beside the error: the client shows what stands.
            return OrjsonResponse({**orjson.loads(response.body), "case": result.case.model_dump()}, status_code=409)
        assert result.case is not None
        case = result.case.model_dump()
        if result.status in ("decided", "corrected"):
            obs.metric(Metric.REVIEW_DECISIONS, 1)
            obs.metric(Metric.REVIEW_OVERRIDES, 1 if result.case.override else 0)
        return OrjsonResponse({**case, "status": result.case.status, "result": result.status})

    @router.get("/review", include_in_schema=False)
    async def page(request: Request) -> Response:
        """The reviewer's page: the queue, a case, approve or refuse (data through the routes above)."""
        request_log(request).route = "/review"
        return page_response(auth.group)

    @router.get("/review/assets/{name}", include_in_schema=False)
    async def asset(request: Request, name: str) -> Response:
        """The page's script and style sheet (served here: the page loads nothing from elsewhere)."""
        request_log(request).route = "/review/assets/{name}"
        return asset_response(name) or error_response(request, 404, "not_found", "No such asset")

    return router
