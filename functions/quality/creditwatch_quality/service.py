"""One quality run: read the cohort and its outcomes, compute the figures, judge, publish, notify."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_analytics.history import index_link, record_run
from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED, LakeError
from creditwatch_analytics.lake.window import WindowSource
from creditwatch_common import words
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.reports import Publisher, PublishError, report_keys
from creditwatch_quality import figures as figures_mod
from creditwatch_quality import notify
from creditwatch_quality.baseline import (
    Baselines,
    BaselineUnavailable,
    for_population,
    judged_against,
    main_version,
)
from creditwatch_quality.cohort import PROTECTED_COLUMNS, Cohort, cohort_of
from creditwatch_quality.fairness import outcome_fairness
from creditwatch_quality.models import Figure, QualityEvent, QualitySummary, Thresholds
from creditwatch_quality.report import render
from creditwatch_quality.reviewed import reviewed_decisions
from creditwatch_quality.rules import judge
from creditwatch_quality.settings import QualitySettings

# A run's steps as progress counts them: read, figures, report, done.
STEPS = 3
# Quality reports' latest pointer: what a reader of the pointer needs to know of the run.
POINTER_FIELDS = ("kind", "cohort", "generated_at", "verdict", "labelled_rows", "label_coverage", "report_id")


@dataclass
class QualityJob:
    """Everything a run needs, passed in (clients included) so tests can swap any part."""

    settings: QualitySettings
    # Each model version's reference: the holdout's figures on every row (compared with all scored applicants,
    # and beside the estimate) and on the rows the model approves (compared with booked loans: the only outcomes
    # a lender without bureau data sees), its threshold and its CBPE estimator; the layer's as fallback.
    baselines: Baselines
    # Where the cohort is read (ANALYTICS_ENGINE: dynamodb, lake, athena, auto): creditwatch_analytics.lake.window.
    source: WindowSource
    publisher: Publisher
    sqs: Any = None
    warnings: list[str] = field(default_factory=list)
    # Where a run is, step by step (step, done, total): the function logs it, the CLI draws it.
    progress: Callable[[str, int, int], None] = lambda _step, _done, _total: None

    def run(self, event: QualityEvent, now: datetime | None = None) -> QualitySummary:
        """Judge the event's cohort; never raises for data problems, only reports them (and tells people)."""
        summary = self._run(event, now)
        if summary.verdict == "error" and event.notify and self._can_notify():
            try:
                notify.send_failure(self.sqs, self.settings.notifications_queue_url or "", summary)
                summary.notified = True
            except Exception:  # noqa: BLE001 - the run fails either way; the failed-runs alarm still pages
                pass
        return summary

    def _can_notify(self) -> bool:
        return self.sqs is not None and bool(self.settings.notifications_queue_url)

    def _run(self, event: QualityEvent, now: datetime | None) -> QualitySummary:
        s = self.settings
        start, end = event.cohort(s.cohort_days_from, s.cohort_days_to, now)
        # Until the cohort names the version that scored it, the layer's (a run that fails to read says so).
        baseline = self.baselines.layer
        base: dict[str, Any] = {
            "generated_at": iso_utc(now or datetime.now(UTC)),
            "environment": s.environment,
            "model_version": baseline.version,
            "cohort": {"start": iso_utc(start), "end": iso_utc(end)},
            "thresholds": Thresholds(
                min_labelled_rows=s.min_labelled_rows,
                auc_drop=s.auc_drop,
                cost_rise=s.cost_rise,
                min_group_size=s.fairness_min_group_size,
                resamples=s.resamples,
            ),
            "validation": baseline.validation,
            "validation_scored": baseline.validation,
            "interval_method": figures_mod.INTERVAL_METHOD.format(n=s.resamples),
            "warnings": list(self.warnings),
        }
        self.progress("reading the cohort", 0, STEPS)
        try:
            # Over max_rows, the bottom-k sample (the drift sample's rule); the totals count the whole cohort.
            frame = self.source.labelled(start, end, list(PROTECTED_COLUMNS), s.max_rows, SAMPLE_KEY_SEED)
        except LakeError as exc:
            # A bad object in the lake fails the run with its key named: never a silent skip.
            return QualitySummary(
                verdict="error",
                message=str(exc),
                error="lake_read_failed",
                rows=0,
                labelled_rows=0,
                label_coverage=None,
                **base,
            )
        except Exception as exc:  # noqa: BLE001 - any AWS failure becomes a clear status, not a crash loop
            return QualitySummary(
                verdict="error",
                message=f"cannot read the cohort from the prediction log: {error_code(exc)}",
                error="log_read_failed",
                rows=0,
                labelled_rows=0,
                label_coverage=None,
                **base,
            )
        scored_by = main_version(frame.model_versions)
        if scored_by is not None:
            try:
                baseline = self.baselines.for_version(scored_by)
            except BaselineUnavailable as exc:
                # Judged against another model's figures, the verdict could page (or stay quiet) wrongly: fail, retried.
                return QualitySummary(
                    verdict="error",
                    message=str(exc),
                    error="registry_read_failed",
                    rows=frame.rows,
                    labelled_rows=frame.labelled_rows,
                    label_coverage=None,
                    model_versions_in_cohort=dict(frame.model_versions),
                    **base,
                )
            judged = judged_against(baseline, scored_by, frame.model_versions)
            base.update(
                model_version=baseline.version,
                validation=baseline.validation,
                validation_scored=baseline.validation,
                judged_against=judged,
            )
            base["warnings"].extend(w for w in (judged.fallback, judged.mixed) if w)
        if baseline.estimator is None and baseline.assumption:
            base["warnings"].append(baseline.assumption)
        cohort, engine = cohort_of(frame, baseline.threshold), frame.engine
        # The figures' labelled rows (the sample's, when the cohort is sampled); the totals count the cohort.
        labelled = cohort.labelled_rows
        totals = cohort.totals
        base.update(
            rows=totals.rows,
            labelled_rows=totals.labelled_rows,
            label_coverage=round(totals.labelled_rows / totals.rows, 6) if totals.rows else None,
            bad_rows=totals.bad_rows,
            rows_sampled=cohort.rows if cohort.sampled else None,
            labelled_rows_sampled=labelled if cohort.sampled else None,
            model_versions_in_cohort=cohort.model_versions,
            engine=engine,
        )
        if totals.rows == 0:
            return QualitySummary(
                verdict="no_data", message="no scored predictions in the cohort; no report written", **base
            )
        summary = QualitySummary(verdict="ok", message="", **base)
        summary.reviewed = reviewed_decisions(cohort)
        self.progress(f"figures on {labelled:,} labelled of {totals.rows:,} predictions", 1, STEPS)
        if baseline.estimator is not None:
            summary.estimated = baseline.estimator(cohort.p_good)
            summary.estimator = baseline.assumption
        # Booked loans unless refused applicants have outcomes too; judged against the same population's validation.
        population = summary.population = cohort.realized_population()
        booked = population.name == "booked_loans"
        if booked:
            summary.validation = baseline.validation_booked
        if summary.judged_against is not None:
            # Which holdout that validation is (the recent labelled one of a version trained on matured outcomes).
            summary.judged_against = for_population(summary.judged_against, baseline, booked)
            if booked and summary.judged_against.holdout_note:
                summary.warnings.append(summary.judged_against.holdout_note)
        if population.labelled_rows >= s.min_labelled_rows:
            self._realized(summary, cohort, baseline.threshold)
        summary.verdict, summary.reasons = judge(
            cohort.rows,
            population.labelled_rows,
            summary.realized,
            summary.validation,
            min_labelled_rows=s.min_labelled_rows,
            auc_drop=s.auc_drop,
            cost_rise=s.cost_rise,
            cost_per="booked loan" if booked else "applicant",
            labelled_as="booked loan(s) with an outcome" if booked else "labelled row(s)",
        )
        summary.message = _message(summary)
        self.progress("writing the report", 2, STEPS)
        published = self._publish(summary, cohort, event, (start, end), baseline.threshold)
        self.progress(f"done: {published.verdict}", STEPS, STEPS)
        return published

    def _realized(self, summary: QualitySummary, cohort: Cohort, threshold: float) -> None:
        s = self.settings
        population = summary.population
        booked = population is not None and population.name == "booked_loans"
        data = cohort.labelled(population)
        summary.realized = figures_mod.realized(data, s.resamples, s.seed)
        if booked:
            # Every booked loan was approved: its approval rate is 1 by construction (the cohort's is estimated).
            summary.realized.pop("approval_rate", None)
        summary.calibration = figures_mod.calibration_table(data)
        summary.confusion = figures_mod.confusion(data, threshold)
        summary.fairness = outcome_fairness(
            cohort.labelled_protected(population),
            data.y,
            data.approved,
            data.p,
            age_cuts=s.fairness_age_cuts,
            min_group_size=s.fairness_min_group_size,
            resamples=s.resamples,
            seed=s.seed,
            booked_only=booked,
        )
        summary.evidently_version = _evidently_version()

    def _publish(
        self,
        summary: QualitySummary,
        cohort: Cohort,
        event: QualityEvent,
        window: tuple[datetime, datetime],
        threshold: float,
    ) -> QualitySummary:
        s = self.settings
        start, end = window
        keys = report_keys(s.report_prefix, start, end, run_at=datetime.now(UTC), kind="quality")
        summary.run_id, summary.report_id = keys["run_id"], keys["report_id"]
        summary.report_html_key, summary.summary_key = keys["html"], keys["summary"]
        link = self.publisher.link(keys, s.link_expiry_seconds)
        summary.report_url, summary.report_url_signed_by = link.url, link.signed_by
        summary.report_url_expires_at = iso_utc(
            datetime.fromtimestamp(link.expires_at, UTC)
            if link.expires_at
            else datetime.now(UTC) + timedelta(seconds=s.link_expiry_seconds)
        )
        if link.warning:
            summary.warnings.append(link.warning)
        summary.index_url = index_link(self.publisher, s.link_expiry_seconds, s.history_prefix).url
        summary.written_at = iso_utc(datetime.now(UTC))
        html, warning = render(summary, cohort, threshold)
        if warning:
            summary.warnings.append(warning)
        try:
            self.publisher.publish(keys, html, summary.model_dump(mode="json"), pointer_fields=POINTER_FIELDS)
        except PublishError as exc:
            return summary.model_copy(
                update={
                    "verdict": "error",
                    "message": str(exc),
                    "error": "publish_failed",
                    "report_url": None,
                    "report_url_expires_at": None,
                    "report_url_signed_by": None,
                }
            )
        record_run(self.publisher, summary, s)
        if summary.verdict == "degraded" and event.notify and self._can_notify():
            notify.send(self.sqs, s.notifications_queue_url or "", summary, s.retrain_function)
            summary.notified = True
        return summary


def _message(summary: QualitySummary) -> str:
    def v(f: Figure | None, pct: bool = False) -> str:
        if f is None or f.value is None:
            return "n/a"
        return f"{f.value:.1%}" if pct else f"{f.value:.3f}"

    population = summary.population
    if population is not None and population.name == "booked_loans":
        real, val, est = summary.realized, summary.validation, summary.estimated
        holdout = summary.judged_against.holdout if summary.judged_against else "original"
        figures = (
            f"AUC realized {v(real.get('auc'))} vs validation {v(val.get('auc'))}, bad rate realized "
            f"{v(real.get('bad_rate_approved'), True)} vs validation {v(val.get('bad_rate_approved'), True)} "
            f"({words.validation_population(population.name, holdout)}); estimated on all {summary.rows} scored: AUC "
            f"{v(est.get('auc'))}, bad rate among approved {v(est.get('bad_rate_approved'), True)}"
        )
        rows = f"{population.labelled_rows} booked loan(s)"
    else:
        auc, est_auc = summary.realized.get("auc"), summary.estimated.get("auc")
        figures = f"AUC realized {v(auc)}, estimated {v(est_auc)}, validation {v(summary.validation.get('auc'))}"
        rows = f"{summary.labelled_rows} labelled row(s)"
    judged = summary.judged_against
    if judged is not None and (judged.fallback or judged.mixed):
        # Whose reference, when it is not simply the one version that scored the whole cohort.
        figures += f"; judged against version {judged.version}'s validation ({judged.source}"
        figures += f": {judged.scored_by} scored {judged.predictions} of {summary.rows})"
    reviewed = summary.reviewed
    if reviewed is not None and reviewed.reviewed_rows:
        figures += f"; {reviewed.reviewed_rows} final decision(s) a reviewer's, {reviewed.overridden_rows} overridden"
    if summary.verdict == "insufficient_labels":
        return f"{words.quality_verdict(summary.verdict)}: {summary.reasons[0]}; {figures}"
    if summary.verdict == "degraded":
        return f"{words.quality_verdict(summary.verdict)}: " + "; ".join(summary.reasons)
    if summary.labelled_rows_sampled is not None:
        return (
            f"quality holds: {figures} on a uniform sample of {summary.labelled_rows_sampled} "
            f"of {summary.labelled_rows} labelled row(s)"
        )
    return f"quality holds: {figures} on {rows}"


def _evidently_version() -> str:
    from importlib.metadata import version

    return version("evidently")
