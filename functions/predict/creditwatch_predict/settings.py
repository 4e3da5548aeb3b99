"""Typed settings of the predict function, read once from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PredictSettings(BaseSettings):
    """Environment of the predict function (names as template.yaml sets them)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str = Field("dev", validation_alias="ENVIRONMENT")
    predictions_table: str = Field("creditwatch-predictions", validation_alias="PREDICTIONS_TABLE")
    spill_queue_url: str | None = Field(None, validation_alias="SPILL_QUEUE_URL")
    log_shards: int = Field(16, ge=1, le=256, validation_alias="LOG_SHARDS")
    log_ttl_days: int = Field(90, ge=1, le=3650, validation_alias="LOG_TTL_DAYS")
    max_batch_size: int = Field(1000, ge=1, le=5000, validation_alias="MAX_BATCH_SIZE")
    flush_metrics_per_request: bool = Field(False, validation_alias="FLUSH_METRICS_PER_REQUEST")
    max_raw_body_logged: int = Field(4096, ge=0, validation_alias="MAX_RAW_BODY_LOGGED")
