"""One compare run: read the window, compare the models, publish the report, write the evidence, notify."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_analytics.comparison.compare import compare, read_window
from creditwatch_analytics.comparison.models import ComparisonFigures, ComparisonSummary, Rule
from creditwatch_analytics.history import index_link, record_run
from creditwatch_analytics.lake.schema import LakeError
from creditwatch_analytics.lake.source import WindowSource
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.model_registry import ComparisonEvidence, evidence_prefix
from creditwatch_common.notifications import ComparisonReady, Interval, dump_notification
from creditwatch_common.reports import Publisher, PublishError, report_keys
from creditwatch_compare.models import CompareEvent
from creditwatch_compare.report import render
from creditwatch_compare.settings import CompareSettings

POINTER_FIELDS = ("kind", "window_start", "window_end", "generated_at", "verdict", "challenger_version", "report_id")


def evidence_of(summary: ComparisonSummary, figures: ComparisonFigures) -> ComparisonEvidence:
    """The registry's record of the comparison (creditwatch_common.model_registry), which a promotion reads."""
    auc = figures.realized.difference.get("auc")
    swaps = figures.swap_set
    return ComparisonEvidence(
        report_id=summary.report_id or "",
        generated_at=datetime.fromisoformat(summary.generated_at.replace("Z", "+00:00")),
        champion_version=figures.champion_version,
        challenger_version=figures.challenger_version,
        window_start=datetime.fromisoformat(summary.window_start.replace("Z", "+00:00")),
        window_end=datetime.fromisoformat(summary.window_end.replace("Z", "+00:00")),
        shadow_rows=figures.shadow_rows,
        score_psi=figures.score_psi,
        approval_rate_champion=figures.approval_rate.get("champion"),
        approval_rate_challenger=figures.approval_rate.get("challenger"),
        approval_rate_change=figures.approval_rate_change.value,
        swap_rate=round((swaps.champion_only + swaps.challenger_only) / swaps.total, 6) if swaps.total else None,
        labelled_rows=figures.realized.rows,
        auc_difference=auc.value if auc is not None else None,
        auc_difference_low=auc.low if auc is not None else None,
        auc_difference_high=auc.high if auc is not None else None,
        swap_set=swaps.model_dump(),
        verdict=figures.verdict,
        reasons=list(figures.reasons),
    )


def evidence_key(evidence: ComparisonEvidence) -> str:
    """evidence/<challenger_version>/<generated_at>-<report_id>.json: the newest sorts last."""
    stamp = evidence.generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{evidence_prefix(evidence.challenger_version)}{stamp}-{evidence.report_id}.json"


@dataclass
class CompareJob:
    """Everything a run needs, passed in (clients included) so tests can swap any part."""

    settings: CompareSettings
    # Where the window is read (ANALYTICS_ENGINE): creditwatch_analytics.lake.window.engine_for.
    source: WindowSource
    publisher: Publisher
    s3: Any = None
    sqs: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def rule(self) -> Rule:
        """The verdict's thresholds, from the settings."""
        s = self.settings
        return Rule(
            min_shadow_rows=s.min_shadow_rows,
            min_labelled_rows=s.min_labelled_rows,
            max_approval_change=s.max_approval_change,
            fairness_tolerance=s.fairness_tolerance,
            resamples=s.resamples,
            seed=s.seed,
        )

    def run(self, event: CompareEvent, now: datetime | None = None) -> ComparisonSummary:
        """Compare the models over the event's window; data problems are reported, never raised."""
        s = self.settings
        now = now or datetime.now(UTC)
        start, end = event.window(s.window_days, now)
        summary = ComparisonSummary(
            generated_at=iso_utc(now),
            environment=s.environment,
            window_start=iso_utc(start),
            window_end=iso_utc(end),
            rule=self.rule,
            warnings=list(self.warnings),
        )
        try:
            window = read_window(self.source, start, end, s.max_rows, s.max_labelled_rows)
        except LakeError as exc:
            return self._failed(summary, "lake_read_failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - any AWS failure becomes a clear status, not a crash loop
            return self._failed(summary, "log_read_failed", f"cannot read the window: {error_code(exc)}")
        summary.engine, summary.rows_read, summary.sampled = window.engine, window.rows_read, window.sampled
        figures = compare(
            window.shadow,
            window.labelled,
            self.rule,
            age_cuts=s.fairness_age_cuts,
            min_group_size=s.fairness_min_group_size,
            challenger_version=event.challenger_version,
        )
        if figures is None:
            summary.status = "no_data"
            named = f" {event.challenger_version}" if event.challenger_version else ""
            summary.message = f"no record of the window carries a challenger{named}'s answer: no report written"
            return summary
        summary.figures = figures
        summary.verdict, summary.swap_set, summary.approval_rate = (
            figures.verdict,
            figures.swap_set,
            figures.approval_rate,
        )
        summary.champion_version, summary.challenger_version = figures.champion_version, figures.challenger_version
        summary.message = f"challenger {figures.challenger_version}: {figures.verdict}: " + "; ".join(figures.reasons)
        return self._publish(summary, figures, event, start, end, now)

    def _failed(self, summary: ComparisonSummary, error: str, message: str) -> ComparisonSummary:
        return summary.model_copy(update={"status": "error", "error": error, "message": message})

    def _publish(
        self,
        summary: ComparisonSummary,
        figures: ComparisonFigures,
        event: CompareEvent,
        start: datetime,
        end: datetime,
        now: datetime,
    ) -> ComparisonSummary:
        s = self.settings
        keys = report_keys(s.report_prefix, start, end, run_at=now, kind="comparison")
        summary.run_id, summary.report_id = keys["run_id"], keys["report_id"]
        summary.report_html_key, summary.summary_key = keys["html"], keys["summary"]
        link = self.publisher.link(keys, s.link_expiry_seconds)
        summary.report_url, summary.report_url_signed_by = link.url, link.signed_by
        expires = (
            datetime.fromtimestamp(link.expires_at, UTC)
            if link.expires_at
            else now + timedelta(seconds=s.link_expiry_seconds)
        )
        summary.report_url_expires_at = iso_utc(expires)
        if link.warning:
            summary.warnings.append(link.warning)
        summary.index_url = index_link(self.publisher, s.link_expiry_seconds, s.history_prefix).url
        evidence = evidence_of(summary, figures)
        if s.model_registry_bucket:
            summary.evidence_key = evidence_key(evidence)
        summary.written_at = iso_utc(datetime.now(UTC))
        try:
            self.publisher.publish(
                keys, render(summary), summary.model_dump(mode="json"), pointer_fields=POINTER_FIELDS
            )
        except PublishError as exc:
            return self._failed(summary, "publish_failed", str(exc))
        if s.model_registry_bucket and summary.evidence_key:
            try:
                self.s3.put_object(
                    Bucket=s.model_registry_bucket,
                    Key=summary.evidence_key,
                    Body=evidence.model_dump_json(indent=2).encode(),
                    ContentType="application/json",
                )
            except Exception as exc:  # noqa: BLE001 - a promotion needs it: the run fails and is retried
                return self._failed(summary, "evidence_failed", f"evidence not written: {error_code(exc)}")
        record_run(self.publisher, summary, s)
        if event.notify and self.sqs is not None and s.notifications_queue_url:
            self.sqs.send_message(QueueUrl=s.notifications_queue_url, MessageBody=dump_notification(note(summary)))
            summary.notified = True
        return summary


def note(summary: ComparisonSummary) -> ComparisonReady:
    """The Slack note of a published comparison (one per report)."""
    figures = summary.figures
    assert figures is not None
    auc = figures.realized.difference.get("auc")
    return ComparisonReady(
        dedupe_key=f"comparison#{summary.report_id}",
        environment=summary.environment,
        window_start=summary.window_start,
        window_end=summary.window_end,
        champion_version=figures.champion_version,
        challenger_version=figures.challenger_version,
        verdict=figures.verdict,
        reasons=list(figures.reasons),
        shadow_rows=figures.shadow_rows,
        swap_set=figures.swap_set.model_dump(),
        approval_rate=dict(figures.approval_rate),
        labelled_rows=figures.realized.rows,
        auc_difference=Interval.model_validate(auc.model_dump()) if auc is not None else None,
        report_url=summary.report_url,
        report_url_expires_at=summary.report_url_expires_at,
        report_url_signed_by=summary.report_url_signed_by,
        index_url=summary.index_url,
    )
