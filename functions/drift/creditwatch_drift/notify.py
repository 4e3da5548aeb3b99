"""Hands a drift finding to the alerts function, the one path to Slack."""

from __future__ import annotations

from typing import Any

from creditwatch_common.notifications import DriftDetected, RunFailed, dump_notification
from creditwatch_drift.models import DriftSummary


def drift_notification(summary: DriftSummary) -> DriftDetected:
    """The message the alerts function turns into a Slack post."""
    shared = set(DriftDetected.model_fields) & set(DriftSummary.model_fields)
    # One alert per report.
    dedupe_key = f"drift#{summary.window_start}#{summary.window_end}"
    attribution = summary.attribution
    return DriftDetected(
        dedupe_key=dedupe_key,
        attribution_ndcg=attribution.ndcg if attribution else None,
        attribution_threshold=attribution.threshold if attribution else None,
        attribution_drifted=bool(attribution and attribution.drifted),
        **summary.model_dump(include=shared - {"dataset_drift"}),
        dataset_drift=bool(summary.dataset_drift),
    )


def send(sqs: Any, queue_url: str, summary: DriftSummary) -> None:
    """Queue the notification for the alerts function."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(drift_notification(summary)))


def failure_notification(summary: DriftSummary) -> RunFailed:
    """The notice of a drift run that failed."""
    return RunFailed(
        dedupe_key=f"run_failed#drift#{summary.window_start}#{summary.window_end}#{summary.error}",
        environment=summary.environment,
        job="drift",
        window_start=summary.window_start,
        window_end=summary.window_end,
        error=summary.error or "error",
        message=summary.message,
    )


def send_failure(sqs: Any, queue_url: str, summary: DriftSummary) -> None:
    """Queue the run-failed notice for the alerts function."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(failure_notification(summary)))
