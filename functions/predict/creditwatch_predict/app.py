"""Builds the predict function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import APIRouter, FastAPI
from mangum import Mangum

from creditwatch_common.aws import AwsClients, apply_local_endpoint, request_path_config
from creditwatch_common.idempotency import IdempotencyStore
from creditwatch_common.log import LogReader, LogWriter
from creditwatch_common.log.outcomes import OutcomeWriter
from creditwatch_common.log.reviews import ReviewStore
from creditwatch_common.observability import Observability, Service
from creditwatch_common.review import ReviewCase
from creditwatch_model import CreditModel, load_model, model_dir
from creditwatch_predict.api import create_app
from creditwatch_predict.canary import ScoreBins
from creditwatch_predict.health import Readiness, health_client_config
from creditwatch_predict.models import ModelProvider
from creditwatch_predict.referral import ReferralRules, Referrals
from creditwatch_predict.settings import PredictSettings
from creditwatch_predict.shadow import ShadowSource

Handler = Any


@dataclass(frozen=True)
class PredictService:
    """The built function: its FastAPI app, its Lambda handler and what they write to."""

    settings: PredictSettings
    model: CreditModel  # the layer's model: the fallback when the registry is not configured or not reachable
    provider: ModelProvider
    writer: LogWriter
    obs: Observability
    app: FastAPI
    handler: Handler
    shadow: ShadowSource


def build(
    settings: PredictSettings,
    clients: AwsClients,
    *,
    model: CreditModel | None = None,
    challenger: CreditModel | None = None,
) -> PredictService:
    """Everything the function needs, from settings and clients given (tests pass their own).

    `challenger`: a model to shadow-score every application with (the log gets its answer, the applicant
    never); without one, the registry's challenger (alias, or CHALLENGER_VERSION) is shadowed.
    """
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.PREDICT, settings)
    model = model or load_model()

    def last_resort(item: dict[str, Any]) -> None:
        # Neither DynamoDB nor SQS took the record: CloudWatch Logs keeps it.
        obs.logger.error("prediction log record kept in logs only", extra={"log_record": item})

    # The writer owns retries and deadlines: its clients make one attempt each, with short timeouts.
    config = request_path_config(settings.aws_connect_timeout_s, settings.aws_read_timeout_s)
    writer = LogWriter(
        dynamodb=clients.lazy("dynamodb", **config),
        table=settings.predictions_table,
        shards=settings.log_shards,
        ttl_days=settings.log_ttl_days,
        rejected_ttl_days=settings.rejected_ttl_days,
        sqs=clients.lazy("sqs", **config),
        spill_queue_url=settings.spill_queue_url,
        on_last_resort=last_resort,
        call_timeout_s=settings.aws_connect_timeout_s + settings.aws_read_timeout_s,
    )
    idempotency = None
    if settings.idempotency_table:
        idempotency = IdempotencyStore(
            dynamodb=clients.lazy("dynamodb", **config),
            table=settings.idempotency_table,
            window_s=settings.idempotency_window_hours * 3600,
        )
    # Outcomes go to the same table, through clients as short-lived as the writer's (it retries itself).
    outcomes = OutcomeWriter(
        dynamodb=clients.lazy("dynamodb", **config),
        table=settings.predictions_table,
        shards=settings.log_shards,
        ttl_days=settings.log_ttl_days,
        call_timeout_s=settings.aws_connect_timeout_s + settings.aws_read_timeout_s,
    )
    # GET /health?deep=true: clients of their own, one short attempt each, so the check keeps its budget.
    probe = health_client_config(settings.health_check_budget_s)
    readiness = Readiness(
        dynamodb=clients.lazy("dynamodb", **probe),
        table=settings.predictions_table,
        sqs=clients.lazy("sqs", **probe),
        spill_queue_url=settings.spill_queue_url,
        budget_s=settings.health_check_budget_s,
    )
    referrals, review = _review(settings, clients, model, obs, config)
    provider = model_provider(settings, clients, model, obs)
    score_bins = ScoreBins.load(model_dir(), model.version)
    shadow = ShadowSource(
        provider.champion,
        (lambda: challenger) if challenger is not None else provider.challenger,
        budget_s=settings.shadow_budget_ms / 1000,
        pause_s=settings.shadow_pause_s,
        on_broken=lambda scorer: obs.logger.error(scorer.broken, extra={"challenger_version": scorer.version}),
    )
    app = create_app(
        model,
        settings,
        writer,
        obs,
        idempotency,
        outcomes,
        readiness,
        provider=provider,
        score_bins=score_bins,
        shadow=shadow,
        referrals=referrals,
        review=review,
    )
    # Lifespan off: Mangum would otherwise run startup/shutdown on every invocation.
    asgi = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """API Gateway HTTP API (payload 2.0) event -> FastAPI response."""
        return asgi(event, context)  # type: ignore[arg-type]

    handler = obs.wrap(handle, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, cold_start_metric=True)
    return PredictService(
        settings=settings,
        model=model,
        provider=provider,
        writer=writer,
        obs=obs,
        app=app,
        handler=handler,
        shadow=shadow,
    )


def model_provider(
    settings: PredictSettings, clients: AwsClients, fallback: CreditModel, obs: Observability
) -> ModelProvider:
    """The champion (and challenger) from the registry when one is configured, the layer's model otherwise."""
    from pathlib import Path

    from creditwatch_common.registry import ModelRegistry

    registry = None
    if settings.model_registry_bucket:
        # One short attempt a call: a registry that does not answer delays one request, then rests (retry_after_s).
        config = request_path_config(settings.aws_connect_timeout_s, settings.aws_read_timeout_s)
        registry = ModelRegistry(clients.lazy("s3", **config), settings.model_registry_bucket)
    return ModelProvider(
        fallback,
        registry,
        obs=obs,
        pinned=settings.model_version,
        pinned_challenger=settings.challenger_version,
        check_interval_s=settings.model_alias_check_ms / 1000,
        retry_after_s=settings.model_registry_retry_s,
        cache_dir=Path(settings.model_cache_dir),
    )


def _review(
    settings: PredictSettings, clients: AwsClients, model: CreditModel, obs: Observability, config: dict[str, Any]
) -> tuple[Referrals | None, APIRouter | None]:
    """Referral (with a case table) and the review routes (with an issuer of reviewers' tokens too)."""
    if not settings.review_cases_table:
        return None, None
    store = ReviewStore(
        dynamodb=clients.lazy("dynamodb", **config),
        table=settings.review_cases_table,
        log_table=settings.predictions_table,
        shards=settings.log_shards,
        ttl_days=settings.log_ttl_days,
        call_timeout_s=settings.aws_connect_timeout_s + settings.aws_read_timeout_s,
    )

    def not_queued(cases: list[ReviewCase]) -> None:
        # The queue did not take them in time: whole in the log (no feature value), to be queued again.
        obs.logger.error("review cases not queued", extra={"review_cases": [c.model_dump() for c in cases]})

    rules = ReferralRules.for_model(
        model,
        settings.review_band,
        settings.review_out_of_range,
        settings.review_audit_share,
        settings.review_novelty,
    )
    referrals = Referrals(
        rules=rules,
        store=store,
        model_version=model.version,
        budget_s=store.call_timeout_s + 0.5,
        on_not_queued=not_queued,
    )
    if not settings.review_jwt_issuer:
        return referrals, None
    from creditwatch_predict.review_auth import ReviewerAuth, fetch_jwks
    from creditwatch_predict.review_routes import review_router

    issuer = settings.review_jwt_issuer.rstrip("/")
    auth = ReviewerAuth(
        issuer=issuer,
        audiences=frozenset(a for a in settings.review_jwt_audience.split(",") if a),
        group=settings.review_group,
        fetch=fetch_jwks(settings.review_jwks_url or f"{issuer}/.well-known/jwks.json"),
    )
    reader = LogReader(
        dynamodb=clients.lazy("dynamodb", **config), table=settings.predictions_table, shards=settings.log_shards
    )
    return referrals, review_router(model, store, reader, auth, obs)
