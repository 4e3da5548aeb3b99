"""Lambda entry point of the alerts function."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_alerts.service import AlertsEvent, AlertsJob
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackClient
from creditwatch_alerts.state import StateStore
from creditwatch_common.aws import AwsClients
from creditwatch_common.prediction_log import PredictionLog
from creditwatch_common.tracing import make_tracer

SERVICE = "creditwatch-alerts"
logger = Logger(service=SERVICE)
tracer = make_tracer(SERVICE)
metrics = Metrics(namespace="CreditWatch", service=SERVICE)

settings = AlertsSettings()
clients = AwsClients()
metrics.set_default_dimensions(environment=settings.environment)


def slack_client() -> SlackClient:
    """The webhook from Secrets Manager through Powertools Parameters, cached for max_age seconds."""
    secret = parameters.get_secret(settings.slack_webhook_secret, transform="json", max_age=settings.secret_max_age_s)
    url = secret.get("webhook_url", "") if isinstance(secret, dict) else ""
    return SlackClient(webhook_url=url, timeout_s=settings.slack_timeout_s, max_attempts=settings.slack_max_attempts)


job = AlertsJob(
    settings=settings,
    prediction_log=PredictionLog(
        dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards
    ),
    state=StateStore(
        dynamodb=clients.lazy("dynamodb"), table=settings.alert_state_table, environment=settings.environment
    ),
    slack=slack_client,
    sqs=clients.lazy("sqs"),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Judge the last window, notify Slack of what started or cleared, deliver drift notes."""
    result = job.run(AlertsEvent.model_validate(event or {}))
    for c in result.conditions:
        metrics.add_metric(name=f"Alert_{c.key}", unit="Count", value=1 if c.firing else 0)
    metrics.add_metric(name="SlackMessages", unit="Count", value=len(result.posted))
    logger.info(
        "alerts run",
        extra={
            "stats": result.stats.model_dump(),
            "posted": [p.kind + ":" + p.key for p in result.posted],
            "firing": [c.key for c in result.conditions if c.firing],
        },
    )
    return result.model_dump(mode="json")
