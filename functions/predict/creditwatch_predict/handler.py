"""Lambda entry point of the predict function: module-scope model, Mangum with lifespan off."""

from __future__ import annotations

import gc
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from creditwatch_common.aws import AwsClients
from creditwatch_common.prediction_log import PredictionLog
from creditwatch_model import load_model
from creditwatch_predict.api import create_app, last_resort_logger
from creditwatch_predict.observability import logger, metrics, tracer
from creditwatch_predict.settings import PredictSettings

settings = PredictSettings()
clients = AwsClients()
model = load_model()
metrics.set_default_dimensions(environment=settings.environment)
prediction_log = PredictionLog(
    dynamodb=clients.lazy("dynamodb"),
    table=settings.predictions_table,
    shards=settings.log_shards,
    ttl_days=settings.log_ttl_days,
    sqs=clients.lazy("sqs"),
    spill_queue_url=settings.spill_queue_url,
    on_last_resort=last_resort_logger,
)
app = create_app(model, settings, prediction_log, flush_metrics_per_request=settings.flush_metrics_per_request)
# Lifespan off: Mangum would otherwise run startup/shutdown on every invocation.
asgi_handler = Mangum(app, lifespan="off")
# What init built (modules, the app, the model) lives as long as the process: move it out of the
# cyclic GC's reach, or every full collection rescans it (a batch request triggers one every ~10
# calls; they were the p99 of bench/predict_bench.py).
gc.freeze()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) event -> FastAPI response."""
    return asgi_handler(event, context)  # type: ignore[arg-type]
