"""Slack Block Kit messages: an alert starting, still firing, resolved, a drift finding, a fairness or quality alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from creditwatch_alerts.rules import Condition, WindowStats
from creditwatch_common import words
from creditwatch_common.notifications import (
    AnyNotification,
    ComparisonReady,
    DeploymentGateFailed,
    DriftDetected,
    EstimatedQuality,
    FairnessAlert,
    Interval,
    QualityAlert,
    RunFailed,
)

Kind = Literal["firing", "reminder", "resolved"]
_ICON = {"firing": ":rotating_light:", "reminder": ":hourglass:", "resolved": ":white_check_mark:"}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "share":
        return f"{value:.2%}"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:g} {unit}"


def _links(
    dashboard_url: str | None,
    report_url: str | None = None,
    index_url: str | None = None,
    label: str = "Open drift report",
) -> list[dict[str, Any]]:
    elements = []
    if report_url:
        elements.append({"type": "button", "text": {"type": "plain_text", "text": label}, "url": report_url})
    if index_url:
        # Every report newest first, with the trends: is this window a blip or a slide?
        elements.append({"type": "button", "text": {"type": "plain_text", "text": "Report history"}, "url": index_url})
    if dashboard_url:
        elements.append(
            {"type": "button", "text": {"type": "plain_text", "text": "CloudWatch dashboard"}, "url": dashboard_url}
        )
    return [{"type": "actions", "elements": elements}] if elements else []


def condition_message(
    kind: Kind,
    condition: Condition,
    stats: WindowStats,
    environment: str,
    dashboard_url: str | None,
    since: str | None = None,
) -> dict[str, Any]:
    """What breached (or cleared), value against threshold, window, counts, environment, links."""
    verb = {"firing": "ALERT", "reminder": "STILL FIRING", "resolved": "RESOLVED"}[kind]
    headline = f"{_ICON[kind]} [{environment}] {verb}: {condition.title}"
    comparison = (
        f"*{_fmt(condition.value, condition.unit)}* against threshold {_fmt(condition.threshold, condition.unit)}"
    )
    fields = [
        {"type": "mrkdwn", "text": f"*Value*\n{comparison}"},
        {"type": "mrkdwn", "text": f"*Window*\n{stats.window_start} → {stats.window_end}"},
        {
            "type": "mrkdwn",
            "text": f"*Requests*\n{stats.requests} ({stats.server_errors} 5xx, {stats.client_errors} 4xx)",
        },
        {
            "type": "mrkdwn",
            "text": "*Latency p50/p95/p99*\n"
            + " / ".join(_fmt(stats.latency_ms.get(k), "ms") for k in ("p50", "p95", "p99")),
        },
    ]
    if since:
        fields.append({"type": "mrkdwn", "text": f"*Since*\n{since}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": condition.detail}, "fields": fields},
        *_links(dashboard_url),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"creditwatch · {environment} · severity {condition.severity}"}],
        },
    ]
    value, threshold = _fmt(condition.value, condition.unit), _fmt(condition.threshold, condition.unit)
    text = f"[{environment}] {verb}: {condition.title} {value} (threshold {threshold})"
    return {"text": text, "blocks": blocks}


def notification_message(note: AnyNotification, dashboard_url: str | None) -> tuple[str, dict[str, Any]]:
    """The kind and the Slack message of a notification another function sent."""
    if isinstance(note, DriftDetected):
        return "drift", drift_message(note, dashboard_url)
    if isinstance(note, FairnessAlert):
        return "fairness", fairness_message(note, dashboard_url)
    if isinstance(note, QualityAlert):
        return "quality", quality_message(note, dashboard_url)
    if isinstance(note, DeploymentGateFailed):
        return "deployment", deployment_message(note, dashboard_url)
    if isinstance(note, ComparisonReady):
        return "comparison", comparison_message(note, dashboard_url)
    return "run_failed", run_failed_message(note, dashboard_url)


def deployment_message(note: DeploymentGateFailed, dashboard_url: str | None) -> dict[str, Any]:
    """A deployment hook refused a new version: CodeDeploy keeps (or puts back) the old one."""
    env = note.environment
    hook = note.hook.replace("_", " ")
    headline = f":no_entry: [{env}] DEPLOYMENT STOPPED by the {hook} hook"
    fields = [
        {"type": "mrkdwn", "text": f"*Function*\n{note.function} version {note.target_version or '-'}"},
        {"type": "mrkdwn", "text": f"*Model*\n{note.model_version or '-'}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": note.reason[:2900]}, "fields": fields},
        *_links(dashboard_url),
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"creditwatch · {env} · deployment {note.deployment_id} · docs/deploy.md"}
            ],
        },
    ]
    return {"text": f"[{env}] deployment stopped ({hook}): {note.reason}", "blocks": blocks}


def fairness_message(note: FairnessAlert, dashboard_url: str | None) -> dict[str, Any]:
    """One protected attribute whose groups' approval rates are apart beyond the threshold, with its report link."""
    env = note.environment
    low, high = note.ratio_interval
    headline = f":scales: [{env}] FAIRNESS: disparate impact by {note.attribute} ({note.disparate_impact_ratio:.2f})"
    reference = f"{note.reference_ratio:.2f}" if note.reference_ratio is not None else "not judged"
    verdict = words.fairness_verdict(
        attribute=note.attribute,
        ratio=note.disparate_impact_ratio,
        low=low,
        high=high,
        lowest_group=note.lowest_group,
        highest_group=note.highest_group,
        threshold=note.threshold,
        judged=True,
        alert=True,
        as_in_training=False,
    )
    body = (
        f"*{verdict}*\nDisparate impact ratio *{note.disparate_impact_ratio:.3f}* (95% interval {low:.3f}-{high:.3f}) "
        f"against threshold {note.threshold}: approval rate of *{note.lowest_group}* "
        f"{note.lowest_rate:.1%} ({note.lowest_count} rows) vs *{note.highest_group}* "
        f"{note.highest_rate:.1%} ({note.highest_count} rows). Training reference: {reference}."
    )
    if note.change_interval is not None:
        body += f" Window / reference: {note.change_interval[0]:.2f}-{note.change_interval[1]:.2f} (95%)."
    fields = [
        {"type": "mrkdwn", "text": f"*Window*\n{note.window_start} → {note.window_end}"},
        {"type": "mrkdwn", "text": f"*Rows analysed*\n{note.rows_used}"},
        {"type": "mrkdwn", "text": f"*Attribute*\n{note.attribute}"},
        {"type": "mrkdwn", "text": f"*Model*\n{note.model_version}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}, "fields": fields},
        *_links(dashboard_url, note.report_url, note.index_url),
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"creditwatch · {env} · {_link_validity(note)} · see docs/operate.md"},
            ],
        },
    ]
    text = (
        f"[{env}] FAIRNESS: {note.attribute} disparate impact ratio {note.disparate_impact_ratio:.3f} "
        f"({low:.3f}-{high:.3f}) < {note.threshold}: {note.lowest_group} {note.lowest_rate:.1%} vs "
        f"{note.highest_group} {note.highest_rate:.1%} report: {note.report_url}"
        + (f" history: {note.index_url}" if note.index_url else "")
    )
    return {"text": text, "blocks": blocks}


def _fig(f: Interval | None, pct: bool = False) -> str:
    if f is None or f.value is None:
        return "n/a"
    fmt = (lambda v: f"{v:.1%}") if pct else (lambda v: f"{v:.3f}")
    return fmt(f.value) + (f" ({fmt(f.low)}-{fmt(f.high)})" if f.low is not None and f.high is not None else "")


_QUALITY_LABELS = {
    "auc": "ROC AUC",
    "expected_cost": "Expected cost / applicant",
    "bad_rate_approved": "Bad rate among approved",
    "approval_rate": "Approval rate",
}

_SHARES = {"approval_rate", "bad_rate_approved"}
# Booked loans: the bad rate first (it carries their signal), the cost per booked loan (5 x bad rate).
_BOOKED_LABELS = {
    "bad_rate_approved": "Bad rate among booked loans",
    "expected_cost": "Expected cost / booked loan",
    "auc": "ROC AUC among booked loans",
}


def quality_message(note: QualityAlert, dashboard_url: str | None) -> dict[str, Any]:
    """A cohort on which the model degraded: realized against estimated against validation, with the report link."""
    env = note.environment
    auc = note.realized.get("auc")
    if note.population == "booked_loans":
        return _booked_quality_message(note, dashboard_url)
    headline = f":warning: [{env}] MODEL QUALITY DEGRADED: AUC {_fig(auc).split(' ')[0]} on outcomes"
    table = "\n".join(
        f"*{label}*: realized {_fig(note.realized.get(k), k in _SHARES)} · "
        f"estimated {_fig(note.estimated.get(k), k in _SHARES)} · "
        f"validation {_fig(note.validation.get(k), k in _SHARES)}"
        for k, label in _QUALITY_LABELS.items()
        if k in note.realized or k in note.validation
    )
    est, real = note.estimated.get("auc"), note.realized.get("auc")
    # The estimate assumes no concept drift: realized well under it means the relation to outcomes changed.
    if est is None or est.value is None or real is None or real.value is None:
        hint = "No estimate to compare with."
    elif real.value < est.value - 0.02:
        hint = "Realized below the estimate: the inputs look as expected but outcomes differ (concept drift)."
    else:
        hint = "The estimate (no labels needed) sees the fall too: the inputs moved; read the drift report."
    text = (
        f"[{env}] MODEL QUALITY DEGRADED ({note.cohort_start} to {note.cohort_end}): {'; '.join(note.reasons)}; "
        f"AUC realized {_fig(auc)} estimated {_fig(note.estimated.get('auc'))} validation "
        f"{_fig(note.validation.get('auc'))} report: {note.report_url}"
    )
    return _quality_blocks(note, dashboard_url, headline, "\n".join(note.reasons) + "\n" + table + "\n" + hint, text)


def _booked_quality_message(note: QualityAlert, dashboard_url: str | None) -> dict[str, Any]:
    """Degraded on booked loans: realized and validation of approved applicants; the estimate over all scored."""
    env = note.environment
    real, est = note.realized.get("bad_rate_approved"), note.estimated.get("bad_rate_approved")
    headline = f":warning: [{env}] MODEL QUALITY DEGRADED: bad rate {_fig(real, True).split(' ')[0]} on booked loans"
    table = "\n".join(
        f"*{label}*: realized {_fig(note.realized.get(k), k in _SHARES)} · "
        f"validation {_fig(note.validation.get(k), k in _SHARES)} · "
        f"estimated {_fig(note.estimated.get(k), k in _SHARES)}"
        for k, label in _BOOKED_LABELS.items()
        if k in note.realized or k in note.validation
    )
    # CBPE's bad rate among approved covers the same approvals: realized above it means outcomes changed.
    if est is None or est.value is None or real is None or real.value is None:
        hint = "No estimate to compare with."
    elif real.low is not None and est.high is not None and real.low > est.high:
        hint = "Booked loans go bad more often than their scores say (the estimate): concept drift."
    else:
        hint = "The estimate (no labels needed) sees the rise too: the inputs moved; read the drift report."
    scope = (
        f"Realized on booked loans (approved applicants with an outcome) against validation on {_holdout(note)}; "
        "estimated (CBPE) on every scored prediction."
    )
    body = "\n".join(note.reasons) + "\n" + scope + "\n" + table + "\n" + hint
    text = (
        f"[{env}] MODEL QUALITY DEGRADED on booked loans ({note.cohort_start} to {note.cohort_end}): "
        f"{'; '.join(note.reasons)}; bad rate realized {_fig(real, True)} validation "
        f"{_fig(note.validation.get('bad_rate_approved'), True)} estimated {_fig(est, True)} "
        f"report: {note.report_url}"
    )
    return _quality_blocks(note, dashboard_url, headline, body, text)


def _holdout(note: QualityAlert) -> str:
    """The rows booked loans were compared with: which holdout's approved rows, and how many."""
    rows = f" {note.holdout_rows:,}" if note.holdout_rows is not None else ""
    if note.holdout == "recent":
        return f"the{rows} rows the model approves of its card's recent labelled holdout (the latest matured outcomes)"
    return f"the{rows} rows the model approves of the original holdout"


# What a degraded verdict proposes: a challenger trained on the matured outcomes (docs/operate.md "Model lifecycle").
TRAIN_CHALLENGER = "creditwatch model train --challenger"
DEPLOYED_OPTIONS = (
    "--bucket <ModelRegistryBucketName> --table <PredictionsTable> --lake-bucket <LakeBucketName> --shards <LogShards>"
)
RETRAIN_LOCAL = "creditwatch invoke RetrainFunction -e events/retrain.json"


def _next_step(note: QualityAlert) -> str:
    """What a degraded verdict proposes (the retrain job, deployed; the CLI's command), and what follows it."""
    train = f"`{TRAIN_CHALLENGER}` (deployed: add `{DEPLOYED_OPTIONS}`)"
    if note.retrain_function:
        # The card's `why` says which cohort asked for it.
        payload = json.dumps({"reason": f"quality degraded on {note.cohort_start} .. {note.cohort_end}"})
        train = (
            f"the retrain job: `aws lambda invoke --function-name {note.retrain_function} --cli-read-timeout 900 "
            f"--cli-binary-format raw-in-base64-out --payload '{payload}' retrain.json` (locally `{RETRAIN_LOCAL}`), "
            f"or {train}"
        )
    return (
        f"*Next*: train a challenger on the matured outcomes with {train}; compare it on shadow traffic "
        "(`creditwatch model compare`), then promote it on that evidence "
        "(`creditwatch model promote <version> --reason ...`)."
    )


def _quality_blocks(
    note: QualityAlert, dashboard_url: str | None, headline: str, body: str, text: str
) -> dict[str, Any]:
    env = note.environment
    coverage = f"{note.label_coverage:.0%}" if note.label_coverage is not None else "n/a"
    fields = [
        {"type": "mrkdwn", "text": f"*Cohort (prediction times)*\n{note.cohort_start} → {note.cohort_end}"},
        {"type": "mrkdwn", "text": f"*Labelled rows*\n{note.labelled_rows} of {note.rows} ({coverage})"},
        {"type": "mrkdwn", "text": f"*Model*\n{note.model_version}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}, "fields": fields},
        {"type": "section", "text": {"type": "mrkdwn", "text": _next_step(note)}},
        *_links(dashboard_url, note.report_url, note.index_url, label="Open quality report"),
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"creditwatch · {env} · {_link_validity(note)} · see docs/operate.md"},
            ],
        },
    ]
    job = f"the retrain job {note.retrain_function} or " if note.retrain_function else ""
    return {"text": f"{text} next: {job}{TRAIN_CHALLENGER}", "blocks": blocks}


def comparison_message(note: ComparisonReady, dashboard_url: str | None) -> dict[str, Any]:
    """A comparison's verdict: the swap set, the approval rates and the AUC difference, with the report link."""
    env = note.environment
    icon = {"promote": ":white_check_mark:", "hold": ":hourglass:", "reject": ":x:"}[note.verdict]
    headline = f"{icon} [{env}] CHALLENGER {note.challenger_version}: {note.verdict.upper()}"
    swaps = note.swap_set
    rates = note.approval_rate

    def rate(role: str) -> str:
        value = rates.get(role)
        return "n/a" if value is None else f"{value:.1%}"

    auc = _fig(note.auc_difference) if note.auc_difference is not None else "n/a"
    body = "\n".join(note.reasons) + (
        f"\n*Swap set* ({note.shadow_rows} applications): approved by both {swaps.get('both', 0)} · "
        f"champion only {swaps.get('champion_only', 0)} · challenger only {swaps.get('challenger_only', 0)} · "
        f"neither {swaps.get('neither', 0)}\n*Approval rate*: champion {rate('champion')} · challenger "
        f"{rate('challenger')}\n*AUC difference* (challenger minus champion, {note.labelled_rows} matured outcomes): "
        f"{auc}"
    )
    fields = [
        {"type": "mrkdwn", "text": f"*Window*\n{note.window_start} → {note.window_end}"},
        {"type": "mrkdwn", "text": f"*Champion*\n{note.champion_version}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}, "fields": fields},
        *_links(dashboard_url, note.report_url, note.index_url, label="Open comparison report"),
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"creditwatch · {env} · {_link_validity(note)} · see docs/operate.md"},
            ],
        },
    ]
    text = (
        f"[{env}] challenger {note.challenger_version} against {note.champion_version}: {note.verdict}: "
        f"{'; '.join(note.reasons)} report: {note.report_url}"
    )
    return {"text": text, "blocks": blocks}


def drift_message(note: DriftDetected, dashboard_url: str | None) -> dict[str, Any]:
    """A drift finding from the drift function, with its report link and whether estimated quality holds."""
    env = note.environment
    features = note.drifted_features
    share = note.drift_share
    count = f"{len(features)} of {note.n_features if note.n_features is not None else '?'}"
    estimate = note.estimated_quality
    kind = "DATA DRIFT" if note.dataset_drift else "ATTRIBUTION DRIFT"
    # Input drift with intact estimated performance is a warning; with estimated performance down, an emergency.
    severity = "n/a" if estimate is None else ("warning" if estimate.holds else "critical")
    what = f"{count} features drifted" if note.dataset_drift else "the decisions' drivers changed"
    if estimate is None:
        headline = f":chart_with_upwards_trend: [{env}] {kind}: {what}"
    elif estimate.holds:
        headline = f":warning: [{env}] {kind} (warning): {what}; estimated quality holds"
    else:
        headline = f":rotating_light: [{env}] {kind} + ESTIMATED QUALITY DROP: {what}"
    body = f"*{words.drift_verdict(len(features), note.n_features, note.dataset_drift)}*\n"
    body += f"Drift share *{share:.2f}* against threshold {note.threshold}" if share is not None else "Drift share n/a"
    if note.attribution_ndcg is not None and note.attribution_threshold is not None:
        verdict = words.attribution_verdict(
            bool(note.attribution_drifted), note.attribution_ndcg, note.attribution_threshold
        )
        body += f"\nWhat drives the decisions: {verdict}"
    if estimate is not None:
        body += "\n" + _estimate_line(estimate)
    fields = [
        {"type": "mrkdwn", "text": f"*Window*\n{note.window_start} → {note.window_end}"},
        {"type": "mrkdwn", "text": f"*Rows analysed*\n{note.rows_used}"},
        {"type": "mrkdwn", "text": f"*Drifted features*\n{', '.join(features) or '-'}"[:1900]},
        {"type": "mrkdwn", "text": f"*Model*\n{note.model_version}"},
    ]
    context = f"creditwatch · {env} · {_link_validity(note)}"
    if estimate is not None:
        context += f" · severity {severity} · estimate assumes no concept drift (docs/operate.md)"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}, "fields": fields},
        *_links(dashboard_url, note.report_url, note.index_url),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    ndcg = f" attribution NDCG {note.attribution_ndcg:.3f}" if note.attribution_ndcg is not None else ""
    quality = ""
    if estimate is not None:
        judged = words.estimate_verdict(estimate.holds, estimate.auc.value, estimate.validation_auc)
        quality = f" [{severity}] {judged}"
    text = f"[{env}] {kind}: {', '.join(features)} (share {share}){ndcg}{quality} report: {note.report_url}"
    if note.index_url:
        text += f" history: {note.index_url}"
    return {"text": text, "blocks": blocks}


def _estimate_line(estimate: EstimatedQuality) -> str:
    """The estimated AUC with its interval against validation, and what it means for the reader."""
    auc = estimate.auc
    if auc.value is None:
        return "Estimated quality: n/a (no scores to estimate on)"
    interval = f" (95% {auc.low:.3f}-{auc.high:.3f})" if auc.low is not None and auc.high is not None else ""
    figure = f"Estimated AUC *{auc.value:.3f}*{interval} vs validation {estimate.validation_auc:.3f}"
    if estimate.holds:
        return (
            f"{figure}: estimated quality *holds* (within {estimate.max_auc_drop:g}). The inputs moved but the "
            "model is expected to rank them as well as at validation: review the shift, no emergency."
        )
    return (
        f"{figure}: estimated quality *does not hold* (more than {estimate.max_auc_drop:g} below). The model is "
        "expected to perform worse on this population: act now (docs/operate.md)."
    )


def run_failed_message(note: RunFailed, dashboard_url: str | None) -> dict[str, Any]:
    """A scheduled job that could not do its work, and why."""
    env = note.environment
    headline = f":x: [{env}] {note.job.upper()} RUN FAILED: {note.error}"
    fields = [{"type": "mrkdwn", "text": f"*Window*\n{note.window_start or '-'} → {note.window_end or '-'}"}]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": note.message[:2900]}, "fields": fields},
        *_links(dashboard_url),
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"creditwatch · {env} · Lambda retries the run"}],
        },
    ]
    return {"text": f"[{env}] {note.job} run failed: {note.error}: {note.message}", "blocks": blocks}


def _link_validity(note: DriftDetected | FairnessAlert | QualityAlert | ComparisonReady) -> str:
    # A link signed with the drift function's role dies with its session, whatever its expiry says.
    if note.report_url_signed_by == "function-role":
        return "report link signed with the drift function's session: it may stop working within hours"
    if note.report_url_signed_by == "link-token":
        return f"report link lasts {_lasts(note)} (until {note.report_url_expires_at}); each opening is recorded"
    return f"report link valid until {note.report_url_expires_at}"


def _lasts(note: DriftDetected | FairnessAlert | QualityAlert | ComparisonReady) -> str:
    """How long the link lasts from now, in words ("7 days", "5 hours")."""
    try:
        left = datetime.fromisoformat(str(note.report_url_expires_at).replace("Z", "+00:00")) - datetime.now(UTC)
    except ValueError:
        return "expiry unknown"
    hours = max(0, round(left.total_seconds() / 3600))
    return f"{round(hours / 24)} days" if hours >= 48 else f"{hours} hours"
