"""Settings every function reads: its environment and where the prediction log is."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogSettings(BaseSettings):
    """The prediction log as template.yaml gives it to every function; each function adds its own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str = Field("dev", validation_alias="ENVIRONMENT")
    predictions_table: str = Field("creditwatch-predictions", validation_alias="PREDICTIONS_TABLE")
    # The writer and the readers must agree on it: a reader with fewer shards misses records.
    log_shards: int = Field(16, ge=1, le=256, validation_alias="LOG_SHARDS")
