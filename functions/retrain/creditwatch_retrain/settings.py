"""Typed settings of the retrain function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditwatch_analytics.training.retrain import MAX_LABELLED_ROWS
from creditwatch_common.settings import EmptyIsNone, LogSettings


class RetrainSettings(LogSettings):
    """Environment of the retrain function (names as template.yaml sets them)."""

    # The registry the challenger is registered in (versions/, aliases/, alias-history/).
    model_registry_bucket: str = Field("creditwatch-model-registry", validation_alias="MODEL_REGISTRY_BUCKET")
    # Without a window in the event: the predictions of the last this many days, as `model train --challenger`.
    window_days: int = Field(365, ge=1, le=760, validation_alias="RETRAIN_WINDOW_DAYS")
    # As `model train --challenger`: the same cap, so that the same window gives the same rows either way.
    max_labelled_rows: int = Field(
        MAX_LABELLED_ROWS, ge=1000, le=5_000_000, validation_alias="RETRAIN_MAX_LABELLED_ROWS"
    )
    lake_bucket: EmptyIsNone = Field(None, validation_alias="LAKE_BUCKET")
    lake_prefix: str = Field("predictions", validation_alias="LAKE_PREFIX")
    # As the quality job: no Athena reader here, athena reads the lake with DuckDB in the function.
    analytics_engine: Literal["auto", "dynamodb", "lake", "athena"] = Field("auto", validation_alias="ANALYTICS_ENGINE")
    # Who registers the version (the card's created_by, the alias move's moved_by): Lambda sets it.
    function_name: str = Field("creditwatch-retrain", validation_alias="AWS_LAMBDA_FUNCTION_NAME")
