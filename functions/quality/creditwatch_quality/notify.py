"""Hands a quality finding to the alerts function, the one path to Slack."""

from __future__ import annotations

from typing import Any

from creditwatch_common.notifications import Interval, QualityAlert, RunFailed, dump_notification
from creditwatch_quality.models import Figure, QualitySummary

# The figures a Slack message shows, realized against estimated against validation.
ALERT_FIGURES = ("auc", "gini", "expected_cost", "bad_rate_approved", "approval_rate")


def _pick(figures: dict[str, Figure]) -> dict[str, Interval]:
    return {k: Interval(**figures[k].model_dump()) for k in ALERT_FIGURES if k in figures}


def quality_alert(summary: QualitySummary, retrain_function: str | None = None) -> QualityAlert:
    """The message the alerts function turns into a Slack post (naming the retrain job its note proposes)."""
    return QualityAlert(
        # One alert per cohort, however often the run is retried or repeated.
        dedupe_key=f"quality#{summary.cohort['start']}#{summary.cohort['end']}",
        environment=summary.environment,
        cohort_start=summary.cohort["start"],
        cohort_end=summary.cohort["end"],
        reasons=summary.reasons,
        rows=summary.rows,
        labelled_rows=summary.labelled_rows,
        label_coverage=summary.label_coverage,
        realized=_pick(summary.realized),
        estimated=_pick(summary.estimated),
        validation=_pick(summary.validation),
        model_version=summary.model_version,
        report_url=summary.report_url,
        report_url_expires_at=summary.report_url_expires_at,
        report_url_signed_by=summary.report_url_signed_by,
        summary_key=summary.summary_key,
        index_url=summary.index_url,
        population=summary.population.name if summary.population else None,
        holdout=summary.judged_against.holdout if summary.judged_against else None,
        holdout_rows=summary.judged_against.holdout_rows if summary.judged_against else None,
        retrain_function=retrain_function,
    )


def send(sqs: Any, queue_url: str, summary: QualitySummary, retrain_function: str | None = None) -> None:
    """Queue the quality alert for the alerts function."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(quality_alert(summary, retrain_function)))


def send_failure(sqs: Any, queue_url: str, summary: QualitySummary) -> None:
    """Queue the run-failed notice (deduplicated over Lambda's retries of the same cohort)."""
    note = RunFailed(
        dedupe_key=f"run_failed#quality#{summary.cohort['start']}#{summary.cohort['end']}#{summary.error}",
        environment=summary.environment,
        job="quality",
        window_start=summary.cohort["start"],
        window_end=summary.cohort["end"],
        error=summary.error or "error",
        message=summary.message,
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody=dump_notification(note))
