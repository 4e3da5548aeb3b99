"""Builds the alerts function from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities import parameters

from creditwatch_alerts.models import AlertsEvent
from creditwatch_alerts.oversight import OversightReader
from creditwatch_alerts.service import AlertsJob
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.slack import SlackClient
from creditwatch_alerts.state import StateStore
from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.log import LogReader, LogWriter
from creditwatch_common.observability import Metric, Observability, Service, alert_metric

Handler = Any


@dataclass(frozen=True)
class AlertsService:
    """The built function: the job and its Lambda handler."""

    settings: AlertsSettings
    job: AlertsJob
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Judge the last window, notify Slack of what started or cleared, deliver queued notifications."""
        result = self.job.run(AlertsEvent.model_validate(event or {}))
        for c in result.conditions:
            self.obs.metric(alert_metric(c.key), 1 if c.firing else 0)
        self.obs.metric(Metric.SLACK_MESSAGES, len(result.posted))
        self.obs.metric(Metric.LOG_RECORDS_REPLAYED, result.spill_replayed)
        if result.oversight is not None:
            o = result.oversight
            self.obs.metric(Metric.REVIEW_QUEUE_SIZE, o.queue_size)
            self.obs.metric(Metric.REVIEW_QUEUE_OLDEST_AGE_HOURS, o.oldest_age_hours or 0.0)
            if o.decisions >= self.settings.min_review_decisions and o.override_rate is not None:
                # Only when enough cases were decided to judge: no datapoint is no verdict (the alarm's missing data).
                self.obs.metric(Metric.REVIEW_OVERRIDE_RATE, o.override_rate)
        if result.rejected:
            self.obs.metric(Metric.NOTIFICATIONS_REJECTED, len(result.rejected))
            self.obs.logger.warning("notifications rejected", extra={"rejected": result.rejected})
        self.obs.logger.info(
            "alerts run",
            extra={
                "stats": result.stats.model_dump(),
                "posted": [p.kind + ":" + p.key for p in result.posted],
                "firing": [c.key for c in result.conditions if c.firing],
                "spill_replayed": result.spill_replayed,
                "oversight": result.oversight.model_dump() if result.oversight else None,
            },
        )
        return result.model_dump(mode="json")


def build(settings: AlertsSettings, clients: AwsClients) -> AlertsService:
    """Everything the function needs, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    obs = Observability.build(Service.ALERTS, settings)

    def slack_client() -> SlackClient:
        # The webhook from Secrets Manager through Powertools Parameters, cached for max_age seconds.
        secret = parameters.get_secret(
            settings.slack_webhook_secret, transform="json", max_age=settings.secret_max_age_s
        )
        url = secret.get("webhook_url", "") if isinstance(secret, dict) else ""
        return SlackClient(
            webhook_url=url, timeout_s=settings.slack_timeout_s, max_attempts=settings.slack_max_attempts
        )

    job = AlertsJob(
        settings=settings,
        reader=LogReader(
            dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards
        ),
        state=StateStore(
            dynamodb=clients.lazy("dynamodb"), table=settings.alert_state_table, environment=settings.environment
        ),
        slack=slack_client,
        sqs=clients.lazy("sqs"),
        replayer=LogWriter(
            dynamodb=clients.lazy("dynamodb"),
            table=settings.predictions_table,
            shards=settings.log_shards,
            sqs=clients.lazy("sqs"),
            spill_queue_url=settings.spill_queue_url,
        )
        if settings.spill_queue_url
        else None,
        oversight=OversightReader(
            dynamodb=clients.lazy("dynamodb"),
            cases_table=settings.review_cases_table,
            log=LogReader(
                dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards
            ),
        )
        if settings.review_cases_table
        else None,
    )
    return AlertsService(settings=settings, job=job, obs=obs)
