"""Hands a drift finding to the alerts function, the one path to Slack."""

from __future__ import annotations

from typing import Any

from creditwatch_common.notifications import DriftDetected, FairnessAlert, RunFailed, dump_notification
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


# What every note about a run says of it: where, which window, how many rows, and the report.
_RUN_FIELDS = {
    "environment",
    "window_start",
    "window_end",
    "rows_used",
    "model_version",
    "report_url",
    "report_url_expires_at",
    "report_url_signed_by",
    "summary_key",
    "index_url",
}


def fairness_notifications(summary: DriftSummary) -> list[FairnessAlert]:
    """One alert per protected attribute below the threshold (ratio and interval)."""
    if summary.fairness is None:
        return []
    notes = []
    for a in summary.fairness.alerts():
        cur = a.current
        assert cur.disparate_impact_ratio is not None and cur.ratio_interval is not None
        by_group = {g.group: g for g in cur.groups}
        low, high = by_group[cur.lowest_group or ""], by_group[cur.highest_group or ""]
        notes.append(
            FairnessAlert(
                # One alert per window and attribute, however often the run is retried or repeated.
                dedupe_key=f"fairness#{summary.window_start}#{summary.window_end}#{a.attribute}",
                attribute=a.attribute,
                disparate_impact_ratio=cur.disparate_impact_ratio,
                ratio_interval=cur.ratio_interval,
                threshold=summary.fairness.threshold,
                statistical_parity_difference=cur.statistical_parity_difference,
                lowest_group=low.group,
                lowest_rate=low.approval_rate,
                lowest_count=low.count,
                highest_group=high.group,
                highest_rate=high.approval_rate,
                highest_count=high.count,
                reference_ratio=a.reference.disparate_impact_ratio,
                change_interval=a.change_interval,
                **summary.model_dump(include=_RUN_FIELDS),
            )
        )
    return notes


def send_fairness(sqs: Any, queue_url: str, summary: DriftSummary) -> int:
    """Queue the fairness alerts for the alerts function; how many were queued."""
    notes = fairness_notifications(summary)
    for note in notes:
        sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(note))
    return len(notes)
