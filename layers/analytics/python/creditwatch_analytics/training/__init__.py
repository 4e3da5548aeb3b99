"""Train the credit model (`train`: every artifact of the model layer, deterministically) and its challengers.

One training path for `creditwatch train`, `creditwatch model train --challenger` and the retrain job
(functions/retrain), shipped in the analytics image with the original data.
"""

from creditwatch_analytics.training.data import (
    CODES_CSV,
    COST_FALSE_APPROVE,
    COST_FALSE_REFUSE,
    DATA_CSV,
    DATA_DIR,
    MODEL_NAME,
    NOMINAL,
    NUMERICAL,
    ORDINAL,
    RANDOM_STATE,
    RF_PARAMS,
    RISK_BANDS,
    SCHEMA_VERSION,
    TARGET,
    VALIDATION_RESAMPLES,
    VALIDATION_SEED,
    build_pipeline,
    build_schema,
    load_data,
    perturbed_rows,
    read_codes,
)
from creditwatch_analytics.training.evaluate import (
    calibration_check,
    choose_threshold,
    class_metrics,
    expected_cost,
    fit_calibration,
)
from creditwatch_analytics.training.forest import content_version, forest_cover, pack_forest
from creditwatch_analytics.training.run import TrainingResult, train

__all__ = [
    "CODES_CSV",
    "COST_FALSE_APPROVE",
    "COST_FALSE_REFUSE",
    "DATA_CSV",
    "DATA_DIR",
    "MODEL_NAME",
    "NOMINAL",
    "NUMERICAL",
    "ORDINAL",
    "RANDOM_STATE",
    "RF_PARAMS",
    "RISK_BANDS",
    "SCHEMA_VERSION",
    "TARGET",
    "VALIDATION_RESAMPLES",
    "VALIDATION_SEED",
    "TrainingResult",
    "build_pipeline",
    "build_schema",
    "calibration_check",
    "choose_threshold",
    "class_metrics",
    "content_version",
    "expected_cost",
    "fit_calibration",
    "forest_cover",
    "load_data",
    "pack_forest",
    "perturbed_rows",
    "read_codes",
    "train",
]
