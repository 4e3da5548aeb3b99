"""Lambda entry point of the drift function (container image)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from creditwatch_common.aws import AwsClients
from creditwatch_common.prediction_log import PredictionLog
from creditwatch_common.tracing import make_tracer
from creditwatch_drift.models import DriftEvent
from creditwatch_drift.publish import Publisher
from creditwatch_drift.service import DriftJob, load_reference
from creditwatch_drift.settings import DriftSettings
from creditwatch_drift.signing import signer_from_secret
from creditwatch_model import load_model

SERVICE = "creditwatch-drift"
logger = Logger(service=SERVICE)
tracer = make_tracer(SERVICE)
metrics = Metrics(namespace="CreditWatch", service=SERVICE)

settings = DriftSettings()
clients = AwsClients()
model = load_model()
metrics.set_default_dimensions(environment=settings.environment)
signer = (
    signer_from_secret(clients.client, parameters.get_secret, settings.report_signer_secret, settings.secret_max_age_s)
    if settings.report_signer_secret
    else None
)
job = DriftJob(
    settings=settings,
    model=model,
    reference=load_reference(model),
    prediction_log=PredictionLog(
        dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards
    ),
    publisher=Publisher(
        s3=clients.lazy("s3"),
        bucket=settings.reports_bucket,
        signer=signer,
    ),
    sqs=clients.lazy("sqs"),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled or on-demand drift run; returns the JSON summary."""
    try:
        request = DriftEvent.model_validate(event or {})
    except ValidationError as exc:
        # A bad on-demand event: answer precisely, and do not let the scheduler retry it.
        errors = json.loads(exc.json(include_url=False))  # plain JSON: ctx may hold exception objects
        logger.warning("invalid drift event", extra={"errors": errors})
        return {"status": "invalid_event", "message": "invalid drift event", "errors": errors}
    summary = job.run(request)
    metrics.add_metric(name="RowsAnalysed", unit="Count", value=summary.rows_used)
    if summary.status == "ok":
        metrics.add_metric(name="DriftShare", unit="None", value=summary.drift_share or 0.0)
        metrics.add_metric(name="DriftedFeatures", unit="Count", value=len(summary.drifted_features))
        metrics.add_metric(name="DatasetDrift", unit="Count", value=1 if summary.dataset_drift else 0)
    metrics.add_metric(name="DriftRunFailed", unit="Count", value=1 if summary.status == "error" else 0)
    log = logger.warning if summary.status != "ok" or summary.dataset_drift else logger.info
    log(summary.message, extra={"drift": summary.brief()})
    return summary.model_dump(mode="json")
