"""Hands a drift finding to the alerts function, the one path to Slack."""

from __future__ import annotations

from typing import Any

from creditwatch_common.notifications import DriftDetected, dump_notification
from creditwatch_drift.models import DriftSummary


def drift_notification(summary: DriftSummary) -> DriftDetected:
    """The message the alerts function turns into a Slack post."""
    return DriftDetected(
        # One alert per report.
        dedupe_key=f"drift#{summary.window_start}#{summary.window_end}",
        environment=summary.environment,
        window_start=summary.window_start,
        window_end=summary.window_end,
        drift_share=summary.drift_share,
        threshold=summary.threshold,
        drifted_features=summary.drifted_features,
        n_features=summary.n_features,
        rows_used=summary.rows_used,
        model_version=summary.model_version,
        report_url=summary.report_url,
        report_url_expires_at=summary.report_url_expires_at,
        report_url_signed_by=summary.report_url_signed_by,
        summary_key=summary.summary_key,
    )


def send(sqs: Any, queue_url: str, summary: DriftSummary) -> None:
    """Queue the notification for the alerts function."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(drift_notification(summary)))
