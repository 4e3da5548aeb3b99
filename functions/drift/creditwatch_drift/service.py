"""One drift run: read the window, check there is enough, analyse, publish, notify."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from creditwatch_analytics.groups import group_specs
from creditwatch_analytics.history import index_link, record_run
from creditwatch_analytics.lake.athena import AthenaError
from creditwatch_analytics.lake.schema import LakeError
from creditwatch_analytics.lake.sql import CountSpec, WindowCounts, counts_from_frame
from creditwatch_analytics.lake.window import DynamoWindow, WindowSource
from creditwatch_analytics.report_page import add_to_report, drift_sections
from creditwatch_common import words
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.log import LogReader
from creditwatch_common.reports import Publisher, PublishError, report_keys
from creditwatch_drift import estimated as estimated_mod
from creditwatch_drift import fairness as fairness_mod
from creditwatch_drift import notify
from creditwatch_drift import stability as stability_mod
from creditwatch_drift.analysis import PROBABILITY, analyse, empty_columns, sample_frame, unknown_categories
from creditwatch_drift.attribution import attribution_drift
from creditwatch_drift.models import DriftEvent, DriftSummary
from creditwatch_drift.settings import DriftSettings
from creditwatch_model import REFERENCE_FILE, CreditModel, model_dir
from creditwatch_model.bins import StabilityBins
from creditwatch_model.calibration import Calibration


def load_reference(model: CreditModel, directory: Path | None = None) -> pd.DataFrame:
    """The training reference sample that ships with the model."""
    frame = pd.read_csv(
        (directory or model_dir()) / REFERENCE_FILE,
        dtype={f.name: str for f in model.schema.features if f.is_categorical},
    )
    return frame


@dataclass
class DriftJob:
    """Everything a run needs, passed in (clients included) so tests can swap any part."""

    settings: DriftSettings
    model: CreditModel
    reference: pd.DataFrame
    reader: LogReader
    publisher: Publisher
    sqs: Any = None
    # The reference rows' exact contributions (shipped with the model); None: no attribution drift.
    reference_contributions: pd.DataFrame | None = None
    # The PSI bins frozen from the reference (shipped with the model); None: no stability figures.
    stability_bins: StabilityBins | None = None
    # Where the window is read (engine_for: dynamodb, lake, athena, auto); None: the table through `reader`.
    window: WindowSource | None = None
    # The model's calibration map (shipped with it); None: no estimated quality.
    calibration: Calibration | None = None

    def run(self, event: DriftEvent, now: datetime | None = None) -> DriftSummary:
        """Analyse the event's window; never raises for data problems, only reports them (and tells people)."""
        summary = self._run(event, now)
        if summary.status == "error" and event.notify:
            self._tell_failure(summary)
        return summary

    def count_spec(self) -> CountSpec:
        """What the window's engine counts over the whole window: the frozen PSI bins and the protected groups."""
        bins = stability_mod.bin_specs(self.stability_bins, self.model) if self.stability_bins is not None else ()
        return CountSpec(bins=bins, groups=group_specs(self.settings.fairness_age_cuts))

    def _tell_failure(self, summary: DriftSummary) -> None:
        """Queue a run-failed notice for Slack (deduplicated over Lambda's retries of the same window)."""
        if self.sqs is None or not self.settings.notifications_queue_url:
            return
        try:
            notify.send_failure(self.sqs, self.settings.notifications_queue_url, summary)
        except Exception:  # noqa: BLE001 - the run fails either way; the alarm on failed runs still pages
            return
        summary.notified = True

    def _run(self, event: DriftEvent, now: datetime | None) -> DriftSummary:
        start, end = event.window(self.settings.window_days, now)
        threshold = event.threshold or self.settings.threshold
        base: dict[str, Any] = {
            "environment": self.settings.environment,
            "window_start": iso_utc(start),
            "window_end": iso_utc(end),
            "generated_at": iso_utc(now or datetime.now(UTC)),
            "model_version": self.model.version,
            "reference_rows": len(self.reference),
            "min_rows": self.settings.min_rows,
            "threshold": threshold,
        }
        source = self.window or DynamoWindow(self.reader)
        spec = self.count_spec()
        try:
            # Every engine returns the same bottom-k sample: memory holds max_rows records, however
            # large the window; and the same counts (PSI bins, protected groups) over the whole window.
            sample = source.scored_sample(start, end, self.settings.max_rows, self.settings.sample_seed, spec)
            current = sample_frame(
                sample.table if sample.table is not None else sample.rows,
                sample.rows_read,
                sample.model_versions,
                self.model,
                self.settings.max_rows,
            )
        except LakeError as exc:
            # A bad object in the lake fails the run with its key named: never a silent skip.
            return DriftSummary(
                status="error", message=str(exc), error="lake_read_failed", rows_read=0, rows_used=0, **base
            )
        except AthenaError as exc:
            # Athena's own reason (the scan cutoff named, when it cancelled the query).
            return DriftSummary(
                status="error", message=str(exc), error="athena_query_failed", rows_read=0, rows_used=0, **base
            )
        except Exception as exc:  # noqa: BLE001 - any AWS failure becomes a clear status, not a crash loop
            code = error_code(exc)
            return DriftSummary(
                status="error",
                message=f"cannot read the prediction log: {code}",
                error="log_read_failed",
                rows_read=0,
                rows_used=0,
                **base,
            )
        # A source that counts nothing (a custom one): the sample's own counts.
        counts: WindowCounts = sample.counts if sample.counts is not None else counts_from_frame(current.frame, spec)
        if sample.counts is not None and sample.counts.rows:
            c = sample.counts
            base.update(
                referred_rows=c.referred,
                referral_rate=round(c.referred / c.rows, 6),
                reviewed_rows=c.reviewed,
                overridden_rows=c.overridden,
                pending_rows=c.pending,
                override_rate=round(c.overridden / c.reviewed, 6) if c.reviewed else None,
            )
        base.update(
            engine=sample.engine,
            engine_rows=sample.engine_rows,
            rows_read=current.rows_read,
            rows_used=len(current.frame),
            sampled=current.sampled,
            model_versions_in_window=current.model_versions,
        )
        if len(current.frame) < self.settings.min_rows:
            return DriftSummary(
                status="insufficient_data",
                message=(
                    f"insufficient data: {len(current.frame)} scored row(s) in the window, "
                    f"{self.settings.min_rows} needed; no report written"
                ),
                **base,
            )
        skip = empty_columns(current.frame, self.model.schema.names)
        unknown = unknown_categories(current.frame, self.model)
        analysis = analyse(current.frame, self.reference, self.model, threshold, skip)
        drifted = [f.name for f in analysis.features if f.drifted]
        referrals = (
            f"; {words.referral_rate(base['referred_rows'], base['rows_read'])}" if base.get("referred_rows") else ""
        )
        summary = DriftSummary(
            status="ok",
            message=(
                words.drift_verdict(len(drifted), len([f for f in analysis.features if f.test]), analysis.dataset_drift)
                + f"; drift share {analysis.drift_share:.2f} {'>=' if analysis.dataset_drift else '<'} {threshold}"
                + referrals
            ),
            drift_share=round(analysis.drift_share, 6),
            drifted_features=drifted,
            n_features=len([f for f in analysis.features if f.test]),
            dataset_drift=analysis.dataset_drift,
            features=analysis.features,
            empty_columns=skip,
            unknown_categories=unknown,
            outputs=analysis.outputs,
            evidently_version=_evidently_version(),
            **base,
        )
        if skip or unknown:
            summary.warnings.append("attribution drift not computed: the window has empty columns or unknown codes")
        elif self.reference_contributions is not None:
            summary.attribution = attribution_drift(
                current.frame,
                self.reference,
                self.reference_contributions,
                self.model,
                self.settings.attribution_threshold,
                self.settings.attribution_max_rows,
            )
            if summary.attribution.drifted:
                summary.message += (
                    f"; attribution drift: NDCG {summary.attribution.ndcg:.3f} < {summary.attribution.threshold}"
                )
        summary.fairness = fairness_mod.fairness(
            counts,
            self.reference,
            threshold=self.settings.fairness_threshold,
            age_cuts=self.settings.fairness_age_cuts,
            min_group_size=self.settings.fairness_min_group_size,
            resamples=self.settings.fairness_resamples,
            seed=self.settings.sample_seed,
        )
        if summary.fairness.alerts():
            summary.message += "; fairness: disparate impact ratio below " + (
                ", ".join(f"{a.attribute} {a.current.disparate_impact_ratio:.2f}" for a in summary.fairness.alerts())
                + f" < {self.settings.fairness_threshold}"
            )
        if self.stability_bins is not None:
            summary.stability = stability_mod.stability(
                counts, self.stability_bins, self.model, analysis.outputs.approval_share_reference
            )
        if self.calibration is not None:
            # The sample the run already holds: its scores are all CBPE needs.
            summary.estimated_quality = estimated_mod.estimated_quality(
                current.frame[PROBABILITY].to_numpy(dtype=float),
                self.model,
                self.calibration,
                max_auc_drop=self.settings.estimate_max_auc_drop,
                resamples=self.settings.estimate_resamples,
                seed=self.settings.sample_seed,
            )
            if summary.estimated_quality is not None:
                summary.message += "; " + estimated_mod.headline(summary.estimated_quality)
        keys = report_keys(self.settings.report_prefix, start, end, run_at=datetime.now(UTC))
        summary.report_html_key, summary.summary_key = keys["html"], keys["summary"]
        summary.report_id = keys["report_id"]
        link = self.publisher.link(keys, self.settings.link_expiry_seconds)
        expiry = timedelta(seconds=self.settings.link_expiry_seconds)
        summary.report_url, summary.report_url_signed_by = link.url, link.signed_by
        summary.report_url_expires_at = iso_utc(
            datetime.fromtimestamp(link.expires_at, UTC) if link.expires_at else datetime.now(UTC) + expiry
        )
        if link.warning:
            summary.warnings.append(link.warning)
        summary.index_url = index_link(
            self.publisher, self.settings.link_expiry_seconds, self.settings.history_prefix
        ).url
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.html"
            analysis.snapshot.save_html(str(path))  # save_html wants a path
            html = path.read_bytes()
        summary.written_at = iso_utc(datetime.now(UTC))
        # Our sections lead (the verdict first), Evidently's detail follows.
        html = add_to_report(
            html, drift_sections(summary, estimated_mod.validation_figures(self.model), estimated_mod.SHOWN)
        )
        try:
            self.publisher.publish(keys, html, summary.model_dump(mode="json"))
        except PublishError as exc:
            return summary.model_copy(
                update={
                    "status": "error",
                    "message": str(exc),
                    "error": "publish_failed",
                    "report_url": None,
                    "report_url_expires_at": None,
                    "report_url_signed_by": None,
                }
            )
        # A history that cannot be updated leaves the run intact (the summary says so).
        record_run(self.publisher, summary, self.settings)
        worth_a_note = summary.dataset_drift or (summary.attribution is not None and summary.attribution.drifted)
        can_notify = event.notify and self.sqs is not None and bool(self.settings.notifications_queue_url)
        if worth_a_note and can_notify:
            notify.send(self.sqs, self.settings.notifications_queue_url or "", summary)
            summary.notified = True
        if can_notify and notify.send_fairness(self.sqs, self.settings.notifications_queue_url or "", summary):
            summary.notified = True
        return summary


def _evidently_version() -> str:
    from importlib.metadata import version

    return version("evidently")
