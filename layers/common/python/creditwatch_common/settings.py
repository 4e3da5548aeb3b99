"""Settings every function reads: its environment, observability and where the prediction log is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _empty_is_none(value: object) -> object:
    return value.strip() or None if isinstance(value, str) else value


# An optional name the template sets to "" when it is not used: read as None.
EmptyIsNone = Annotated[str | None, BeforeValidator(_empty_is_none)]


class FunctionSettings(BaseSettings):
    """What template.yaml gives every function; read once, by the function's build."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: str = Field("dev", validation_alias="ENVIRONMENT")
    # Empty when deployed; `sam local invoke --env-vars env/local.json` points it at moto.
    local_aws_endpoint: str | None = Field(None, validation_alias="LOCAL_AWS_ENDPOINT")
    metrics_namespace: str = Field("CreditWatch", validation_alias="POWERTOOLS_METRICS_NAMESPACE")
    trace_disabled: bool = Field(False, validation_alias="POWERTOOLS_TRACE_DISABLED")


class LogSettings(FunctionSettings):
    """The prediction log as template.yaml gives it to every function; each function adds its own."""

    predictions_table: str = Field("creditwatch-predictions", validation_alias="PREDICTIONS_TABLE")
    # The writer and the readers must agree on it: a reader with fewer shards misses records.
    log_shards: int = Field(16, ge=1, le=256, validation_alias="LOG_SHARDS")
