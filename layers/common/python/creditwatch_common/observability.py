"""One logger, tracer and metrics setup for every function, and the names of every metric we emit.

The dashboard and the alarms of template.yaml refer to these names; tests/integration/test_template.py
checks that each one they use is here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from creditwatch_common.settings import FunctionSettings
from creditwatch_common.tracing import make_tracer

NAMESPACE = "CreditWatch"


class Service(StrEnum):
    """The `service` of each function: its logger, its traces and its metrics' dimension."""

    PREDICT = "creditwatch-predict"
    DRIFT = "creditwatch-drift"
    ALERTS = "creditwatch-alerts"
    LAKE_EXPORT = "creditwatch-lake-export"
    REPORTS = "creditwatch-reports"
    QUALITY = "creditwatch-quality"
    DEPLOY_HOOK = "creditwatch-deploy-hook"
    PROBE = "creditwatch-probe"
    COMPARE = "creditwatch-compare"
    RETRAIN = "creditwatch-retrain"


class Metric(StrEnum):
    """Every metric of the CreditWatch namespace."""

    # predict: one per request
    REQUESTS = "Requests"
    CLIENT_ERRORS = "ClientErrors"
    SERVER_ERRORS = "ServerErrors"
    LATENCY = "Latency"
    PREDICTIONS = "Predictions"
    APPROVED = "Approved"
    REFUSED = "Refused"
    PROBABILITY_GOOD = "ProbabilityGood"
    LOG_RECORDS_SPILLED = "LogRecordsSpilled"
    LOG_RECORDS_LOGGED_ONLY = "LogRecordsLoggedOnly"
    # The model registry could not be read or a version not loaded: the models already serving answered.
    MODEL_REGISTRY_FAILURES = "ModelRegistryFailures"
    # Scored applications per quintile of P(good), quintiles of the model's frozen reference (psi_bins.json):
    # the canary's score PSI is metric math over these, per function version (docs/deploy.md).
    SCORE_BIN_1 = "ScoreBin1"
    SCORE_BIN_2 = "ScoreBin2"
    SCORE_BIN_3 = "ScoreBin3"
    SCORE_BIN_4 = "ScoreBin4"
    SCORE_BIN_5 = "ScoreBin5"
    # Applications the shadow challenger did not score (failed, over its budget, paused); 0 when it scored all.
    SHADOW_FAILURES = "ShadowFailures"
    # POST /outcomes (not scoring traffic: kept out of Requests, ServerErrors and Latency).
    OUTCOME_REQUESTS = "OutcomeRequests"
    OUTCOME_SERVER_ERRORS = "OutcomeServerErrors"
    OUTCOME_LATENCY = "OutcomeLatency"
    OUTCOMES_RECORDED = "OutcomesRecorded"
    OUTCOME_CONFLICTS = "OutcomeConflicts"
    # human review: applications referred (per request), cases the queue did not take in time (kept in the
    # function's log), review API requests (not scoring traffic), decisions recorded and how many overrode.
    REFERRALS = "Referrals"
    REVIEW_CASES_NOT_QUEUED = "ReviewCasesNotQueued"
    REVIEW_REQUESTS = "ReviewRequests"
    REVIEW_SERVER_ERRORS = "ReviewServerErrors"
    REVIEW_DECISIONS = "ReviewDecisions"
    REVIEW_OVERRIDES = "ReviewOverrides"
    # drift: one per run
    ROWS_ANALYSED = "RowsAnalysed"
    DRIFT_SHARE = "DriftShare"
    DRIFTED_FEATURES = "DriftedFeatures"
    DATASET_DRIFT = "DatasetDrift"
    DRIFT_RUN_FAILED = "DriftRunFailed"
    ATTRIBUTION_NDCG = "AttributionNdcg"
    # Share of the window's scored applications referred to a reviewer (all of them counted, not the sample).
    REFERRAL_RATE = "ReferralRate"
    # Lowest group approval rate / highest, one metric per protected attribute (only when judged).
    DISPARATE_IMPACT_RATIO_SEX = "DisparateImpactRatioSex"
    DISPARATE_IMPACT_RATIO_AGE = "DisparateImpactRatioAge"
    DISPARATE_IMPACT_RATIO_FOREIGN_WORKER = "DisparateImpactRatioForeignWorker"
    FAIRNESS_ALERTS = "FairnessAlerts"
    # PSI on bins frozen from the reference: P(good), and the feature that moved most.
    SCORE_PSI = "ScorePsi"
    MAX_FEATURE_PSI = "MaxFeaturePsi"
    # CBPE on the window's scores: estimated ROC AUC before outcomes (creditwatch_model.estimate).
    ESTIMATED_AUC = "EstimatedAuc"
    # The report history's index was not rewritten after a published report (the report itself is fine).
    HISTORY_UPDATE_FAILED = "HistoryUpdateFailed"
    # alerts: one per run
    SLACK_MESSAGES = "SlackMessages"
    NOTIFICATIONS_REJECTED = "NotificationsRejected"
    LOG_RECORDS_REPLAYED = "LogRecordsReplayed"
    # Oversight of human review, every run: the queue's size and its oldest case's age (0 when empty), and the
    # reviewers' override rate over the override window (only once enough cases were decided to judge).
    REVIEW_QUEUE_SIZE = "ReviewQueueSize"
    REVIEW_QUEUE_OLDEST_AGE_HOURS = "ReviewQueueOldestAgeHours"
    REVIEW_OVERRIDE_RATE = "ReviewOverrideRate"
    # lake export: one per run
    LAKE_ROWS_EXPORTED = "LakeRowsExported"
    LAKE_OUTCOMES_EXPORTED = "LakeOutcomesExported"
    LAKE_HOURS_EXPORTED = "LakeHoursExported"
    LAKE_EXPORT_FAILED = "LakeExportFailed"
    # reports: one per link opened or refused
    REPORTS_OPENED = "ReportsOpened"
    REPORT_LINKS_REFUSED = "ReportLinksRefused"
    # quality: one per run (figures only when the cohort has enough labelled rows, or an estimator)
    QUALITY_AUC = "QualityAuc"
    QUALITY_ESTIMATED_AUC = "QualityEstimatedAuc"
    QUALITY_EXPECTED_COST = "QualityExpectedCost"
    QUALITY_LABEL_COVERAGE = "QualityLabelCoverage"
    QUALITY_LABELLED_ROWS = "QualityLabelledRows"
    QUALITY_DEGRADED = "QualityDegraded"
    QUALITY_RUN_FAILED = "QualityRunFailed"
    # Highest group's true-positive rate - lowest's, among good applicants (only when judged).
    QUALITY_EQUAL_OPPORTUNITY_DIFFERENCE = "QualityEqualOpportunityDifference"
    # deployment hooks: one per hook run (1 passed, 0 failed)
    DEPLOY_GATE_PASSED = "DeployGatePassed"
    # uptime probe: one per run (1 when /health?deep=true or the scored /predict failed)
    PROBE_FAILED = "ProbeFailed"
    PROBE_LATENCY = "ProbeLatency"
    # compare: one per run (champion against challenger)
    COMPARE_RUN_FAILED = "CompareRunFailed"
    COMPARE_SHADOW_ROWS = "CompareShadowRows"
    # Challenger's realized AUC minus the champion's, on matured outcomes both scored.
    COMPARE_AUC_DIFFERENCE = "CompareAucDifference"
    # Powertools' own
    COLD_START = "ColdStart"


SCORE_BINS = (Metric.SCORE_BIN_1, Metric.SCORE_BIN_2, Metric.SCORE_BIN_3, Metric.SCORE_BIN_4, Metric.SCORE_BIN_5)
# The second dimension set of the predict function's metrics: which published version emitted them.
VERSION_DIMENSION = "function_version"


ALERT_METRIC_PREFIX = "Alert_"


def alert_metric(condition_key: str) -> str:
    """The metric of one alert condition (1 firing, 0 not)."""
    return f"{ALERT_METRIC_PREFIX}{condition_key}"


@dataclass(frozen=True)
class Observability:
    """The Powertools trio of one function."""

    service: Service
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    @classmethod
    def build(cls, service: Service, settings: FunctionSettings) -> Observability:
        """Logger, tracer (a no-op one when tracing is off) and metrics with the environment dimension."""
        metrics = Metrics(namespace=settings.metrics_namespace, service=service.value)
        metrics.set_default_dimensions(environment=settings.environment)
        return cls(
            service=service,
            logger=Logger(service=service.value),
            tracer=make_tracer(service.value, enabled=not settings.trace_disabled),
            metrics=metrics,
        )

    def metric(self, name: Metric | str, value: float, unit: str = "Count") -> None:
        """Add one value of a metric to this invocation's EMF blob."""
        self.metrics.add_metric(name=str(name), unit=unit, value=value)

    def progress(self, step: str, done: int, total: int) -> None:
        """Log where a long run is (`creditwatch invoke` draws these lines as a progress bar)."""
        self.logger.info(
            f"progress: {step} ({done}/{total})", extra={"progress": {"step": step, "done": done, "total": total}}
        )

    def also_by(self, **dimensions: str) -> None:
        """Publish this blob's metrics under a second dimension set too (the first stays as alarms know it)."""
        wanted = {"service": self.service.value, **self.metrics.default_dimensions, **dimensions}
        if wanted not in self.metrics.provider.dimension_sets:
            self.metrics.add_dimensions(**wanted)

    def entry(
        self, handle: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """A Lambda handler (event, context) that calls handle(event) inside Powertools' wrappers."""

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return handle(event)

        return self.wrap(handler)

    def wrap(
        self,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]],
        *,
        correlation_id_path: str | None = None,
        cold_start_metric: bool = False,
    ) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        """The handler with Powertools' context logging, tracing and metrics flushing around it."""
        wrapped = self.metrics.log_metrics(handler, capture_cold_start_metric=cold_start_metric)
        # Never the response or the exception as trace metadata: both can carry applicants' data.
        wrapped = self.tracer.capture_lambda_handler(wrapped, capture_response=False, capture_error=False)
        return self.logger.inject_lambda_context(wrapped, correlation_id_path=correlation_id_path)
