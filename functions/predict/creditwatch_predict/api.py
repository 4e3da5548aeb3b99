"""The FastAPI application: routes, error handlers and the request log middleware put together."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from creditwatch_common.idempotency import IdempotencyStore
from creditwatch_common.log import LogWriter
from creditwatch_common.log.outcomes import OutcomeWriter
from creditwatch_common.observability import Observability
from creditwatch_model import CreditModel
from creditwatch_predict.canary import ScoreBins
from creditwatch_predict.docs import install_docs
from creditwatch_predict.errors import install_error_handlers
from creditwatch_predict.fastjson import OrjsonResponse, OrjsonRoute
from creditwatch_predict.health import Readiness
from creditwatch_predict.idempotency import IdempotencyMiddleware
from creditwatch_predict.limits import BodyLimitMiddleware
from creditwatch_predict.middleware import RequestLogMiddleware, TrailingSlashMiddleware
from creditwatch_predict.models import ModelProvider
from creditwatch_predict.referral import Referrals
from creditwatch_predict.routes import operations_router, outcomes_router, scoring_router
from creditwatch_predict.schemas import build_application_model, build_batch_model
from creditwatch_predict.settings import PredictSettings
from creditwatch_predict.shadow import ShadowSource

DESCRIPTION = (
    "Credit scoring on the UCI German Credit schema, with the reasons for every decision. Fields are "
    "documented by their snake_case names; the seed's human-readable names (each field's description, "
    "e.g. `Age in years`) are accepted too. Codes are UCI codes such as `A12`."
)


def create_app(
    model: CreditModel,
    settings: PredictSettings,
    writer: LogWriter,
    obs: Observability,
    idempotency: IdempotencyStore | None = None,
    outcomes: OutcomeWriter | None = None,
    readiness: Readiness | None = None,
    provider: ModelProvider | None = None,
    score_bins: ScoreBins | None = None,
    shadow: ShadowSource | None = None,
    referrals: Referrals | None = None,
    review: APIRouter | None = None,
) -> FastAPI:
    """The API around a loaded model, writing every request to the prediction log (and outcomes, if given a writer).

    `provider` names the model of each request (the registry's champion); without one, `model` answers every request.
    With a shadow source, every scored application is also scored by the challenger, for the log only.
    """
    provider = provider or ModelProvider(model)
    application_model = build_application_model(model.schema)
    batch_model = build_batch_model(application_model, settings.max_batch_size, model.schema)
    app = FastAPI(
        default_response_class=OrjsonResponse,
        title="creditwatch",
        version=model.version,
        description=DESCRIPTION,
        # One schema per model: answers omit the fields they do not carry (explanation, counterfactual).
        separate_input_output_schemas=False,
        # Served by install_docs from the package's files, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = OrjsonRoute  # FastAPI's own routes (docs) too
    app.state.models = provider
    # A path with a slash too many is served (TrailingSlashMiddleware) or a JSON 404, never an empty 307.
    app.router.redirect_slashes = False
    install_error_handlers(app, model.schema, settings.max_batch_size, obs)
    install_docs(app)
    routers = [
        scoring_router(
            provider, application_model, batch_model, explain=settings.explain_predictions, referrals=referrals
        ),
        operations_router(provider, readiness),
    ]
    if outcomes is not None:
        routers.append(outcomes_router(outcomes))
    if review is not None:
        routers.append(review)
    for router in routers:
        app.include_router(router)
    # The paths the app serves (the routers are included without a prefix), for the request log.
    paths = frozenset(getattr(r, "path", "") for routes in (app.routes, *(r.routes for r in routers)) for r in routes)
    # Innermost first: the key is claimed after the body is bounded; both inside the request log, so
    # that every refusal is logged like any other answer (and a replay is not logged twice).
    app.add_middleware(IdempotencyMiddleware, store=idempotency)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestLogMiddleware,
        model_version=lambda: provider.champion().version,
        writer=writer,
        obs=obs,
        max_answer_bytes=settings.max_answer_bytes,
        paths=paths - {""},
        flush_metrics_per_request=settings.flush_metrics_per_request,
        response_reserve_s=settings.response_reserve_s,
        write_budget_s=settings.write_budget_s,
        score_bins=score_bins,
        function_version=settings.function_version,
        shadow=shadow,
    )
    # Outermost: the log, the idempotency key and the route all see the path without its slash.
    app.add_middleware(TrailingSlashMiddleware, paths=paths - {""})
    return app
