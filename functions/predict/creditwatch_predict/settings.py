"""Typed settings of the predict function, read once from the environment."""

from __future__ import annotations

from pydantic import Field, field_validator

from creditwatch_common.settings import LogSettings


class PredictSettings(LogSettings):
    """Environment of the predict function (names as template.yaml sets them)."""

    spill_queue_url: str | None = Field(None, validation_alias="SPILL_QUEUE_URL")
    log_ttl_days: int = Field(90, ge=1, le=3650, validation_alias="LOG_TTL_DAYS")
    # Rejected requests (no decision, no personal values: docs/operate.md "Retention") go sooner.
    rejected_ttl_days: int = Field(30, ge=1, le=3650, validation_alias="REJECTED_TTL_DAYS")
    max_batch_size: int = Field(1000, ge=1, le=5000, validation_alias="MAX_BATCH_SIZE")
    flush_metrics_per_request: bool = Field(False, validation_alias="FLUSH_METRICS_PER_REQUEST")
    # /predict answers (and logs) each decision's contributions and reasons; off only to measure without them.
    explain_predictions: bool = Field(True, validation_alias="EXPLAIN_PREDICTIONS")
    # Larger bodies get 413 body_too_large before parsing: a 1,000-application batch by the seed's long
    # names is ~0.6 MB (docs/api.md, "Bounds").
    max_body_bytes: int = Field(1_048_576, ge=1024, le=6_000_000, validation_alias="MAX_BODY_BYTES")
    # No answer is larger (a 1,000-application batch with explanations is ~1.8 MB); Lambda's limit is 6 MB.
    max_answer_bytes: int = Field(4_194_304, ge=65_536, le=5_000_000, validation_alias="MAX_ANSWER_BYTES")
    # The request path's AWS calls: one attempt each (the log writer retries), never longer than this.
    aws_connect_timeout_s: float = Field(1.0, gt=0, le=10, validation_alias="AWS_CONNECT_TIMEOUT_SECONDS")
    aws_read_timeout_s: float = Field(2.0, gt=0, le=30, validation_alias="AWS_READ_TIMEOUT_SECONDS")
    # Kept free after the log write for the answer and the metrics flush, before Lambda's timeout.
    response_reserve_s: float = Field(0.5, ge=0, le=10, validation_alias="RESPONSE_RESERVE_SECONDS")
    # The log write's budget where there is no Lambda deadline (creditwatch serve).
    write_budget_s: float = Field(10.0, gt=0, le=900, validation_alias="LOG_WRITE_BUDGET_SECONDS")
    # Idempotency-Key: the table of claims and answers (none: the header is ignored) and how long a key holds.
    idempotency_table: str | None = Field(None, validation_alias="IDEMPOTENCY_TABLE")
    idempotency_window_hours: int = Field(24, ge=1, le=168, validation_alias="IDEMPOTENCY_WINDOW_HOURS")
    # GET /health?deep=true: the whole check (log table and spill queue at once) answers within this.
    health_check_budget_s: float = Field(1.5, gt=0, le=10, validation_alias="HEALTH_CHECK_BUDGET_SECONDS")
    # The published version Lambda runs (set by Lambda): the canary's metrics carry it as a dimension.
    function_version: str | None = Field(None, validation_alias="AWS_LAMBDA_FUNCTION_VERSION")
    # The model registry (template ModelRegistryBucket; none: the layer's model answers, as before).
    model_registry_bucket: str | None = Field(None, validation_alias="MODEL_REGISTRY_BUCKET")
    # A pinned champion (deployed stacks: the version their function configuration names), and challenger.
    # Unset: the registry's aliases are followed, checked at most every MODEL_ALIAS_CHECK_MS.
    model_version: str | None = Field(None, pattern=r"^[0-9a-f]{12}$", validation_alias="MODEL_VERSION")
    challenger_version: str | None = Field(None, pattern=r"^[0-9a-f]{12}$", validation_alias="CHALLENGER_VERSION")
    # 0: every request (creditwatch serve, so a promotion answers from the next request); one LIST call a check.
    model_alias_check_ms: int = Field(1000, ge=0, le=3_600_000, validation_alias="MODEL_ALIAS_CHECK_MS")
    # After a registry failure, the models already loaded serve this long before the registry is asked again.
    model_registry_retry_s: float = Field(30.0, ge=0, le=3600, validation_alias="MODEL_REGISTRY_RETRY_SECONDS")
    # Where registry versions are written once fetched (Lambda: only /tmp is writable).
    model_cache_dir: str = Field("/tmp/creditwatch-models", validation_alias="MODEL_CACHE_DIR")

    @field_validator("model_registry_bucket", "model_version", "challenger_version", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """The template passes "" for an unset parameter."""
        return None if value == "" else value

    # Shadow scoring (a challenger set): a request waits for the challenger at most this long (plus one chunk
    # of 256 applications); a request over it pauses the challenger for SHADOW_PAUSE_SECONDS.
    shadow_budget_ms: float = Field(25.0, gt=0, le=1000, validation_alias="SHADOW_BUDGET_MS")
    shadow_pause_s: float = Field(60.0, ge=0, le=3600, validation_alias="SHADOW_PAUSE_SECONDS")
    # Human review (template parameters Review*): the case table (none: nothing is referred), the rules
    # (0 turns each off), and who may decide: tokens of this issuer and audience, in this group.
    review_cases_table: str | None = Field(None, validation_alias="REVIEW_CASES_TABLE")
    review_band: float = Field(0.0, ge=0, le=0.5, validation_alias="REVIEW_BAND")
    review_out_of_range: bool = Field(False, validation_alias="REVIEW_OUT_OF_RANGE")
    review_audit_share: float = Field(0.0, ge=0, le=1, validation_alias="REVIEW_AUDIT_SHARE")
    # Times the novelty bound shipped with the model (1: as shipped; 0: off).
    review_novelty: float = Field(0.0, ge=0, le=10, validation_alias="REVIEW_NOVELTY")
    review_jwt_issuer: str | None = Field(None, validation_alias="REVIEW_JWT_ISSUER")
    review_jwt_audience: str = Field("", validation_alias="REVIEW_JWT_AUDIENCE")
    # Where the issuer's keys are; empty: <issuer>/.well-known/jwks.json (Cognito's). Locally: the moto pool's.
    review_jwks_url: str | None = Field(None, validation_alias="REVIEW_JWKS_URL")
    review_group: str = Field("reviewers", min_length=1, validation_alias="REVIEW_GROUP")
