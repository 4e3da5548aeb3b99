"""The words creditwatch uses for what it judged (docs/operate.md, "The words we use").

One vocabulary for the reports, the history page, the CLI and Slack: a verdict names what was judged,
the figure it rests on and whether it pages. "ok" never stands beside a breach. Plain values in, one
line out, so any function (zip or image) can call them.
"""

from __future__ import annotations

PAGED = "paged"
NOT_PAGED = "not paged"
AS_IN_TRAINING = "as in training"

# Quality verdicts (QualitySummary.verdict) in words.
QUALITY_VERDICTS = {
    "ok": "quality holds",
    "degraded": "quality degraded",
    "insufficient_labels": "too few outcomes to judge",
    "no_data": "no predictions in the cohort",
    "error": "run failed",
}
# Whose outcomes a quality run's realized figures cover (QualitySummary.population.name), and what they are
# compared with (the same population's validation rows).
POPULATIONS = {
    "booked_loans": ("booked loans (approved applicants with an outcome)", "holdout rows the model approves"),
    "all_scored": ("scored applicants with an outcome, refused ones included (bureau data)", "whole holdout"),
}
# Where docs/operate.md says what to do next, by finding.
DOCS = "docs/operate.md"
NEXT_STEPS = {
    "drift": f"{DOCS}#reading-a-drift-report",
    "fairness": f"{DOCS}#when-a-fairness-alert-fires",
    "quality": f"{DOCS}#model-quality-on-outcomes",
    "degraded": f"{DOCS}#when-the-quality-alert-fires",
    "words": f"{DOCS}#the-words-we-use",
}


def paged(alert: bool) -> str:
    """Whether a finding pages, in words."""
    return PAGED if alert else NOT_PAGED


def interval(low: float | None, high: float | None, fmt: str = "{:.2f}") -> str:
    """A 95% interval as the reports write it: ' (95% 0.42-0.88)', or nothing without one."""
    if low is None or high is None:
        return ""
    return f" (95% {fmt.format(low)}-{fmt.format(high)})"


def drift_verdict(drifted: int, tested: int | None, dataset_drift: bool | None) -> str:
    """The drift judgement: 'dataset drift: 7 of 19 features (paged)' or 'no dataset drift: 2 of 19 features'."""
    counted = f"{drifted} of {tested} features" if tested is not None else f"{drifted} features"
    if dataset_drift:
        return f"dataset drift: {counted} ({PAGED})"
    return f"no dataset drift: {counted} drifted"


def attribution_verdict(drifted: bool, ndcg: float, threshold: float) -> str:
    """The attribution judgement, with the NDCG it rests on."""
    if drifted:
        return f"attribution drift: NDCG {ndcg:.3f} below {threshold:g} ({PAGED})"
    return f"no attribution drift: NDCG {ndcg:.3f}, at or above {threshold:g}"


def psi_verdict(band: str | None, psi: float | None) -> str:
    """The score's stability: 'score stable (PSI 0.020)', 'score shift moderate (PSI 0.180)'."""
    if band is None or psi is None:
        return "score stability not computed"
    figure = f"PSI {psi:.3f}"
    return f"score stable ({figure})" if band == "stable" else f"score shift {band} ({figure})"


def fairness_verdict(
    *,
    attribute: str,
    ratio: float | None,
    low: float | None,
    high: float | None,
    lowest_group: str | None,
    highest_group: str | None,
    threshold: float,
    judged: bool,
    alert: bool,
    as_in_training: bool,
    note: str | None = None,
) -> str:
    """One attribute's decision fairness, e.g.

    'sex: disparate impact 0.61 (95% 0.42-0.88), female vs male: below 0.8 (as in training; not paged)'.
    """
    if not judged or ratio is None:
        why = (note or "too few rows in a group").removesuffix(": not judged")
        return f"{attribute}: not judged ({why})"
    pair = f", {lowest_group} vs {highest_group}" if lowest_group and highest_group else ""
    figure = f"{attribute}: disparate impact {ratio:.2f}{interval(low, high)}{pair}"
    if alert:
        return f"{figure}: below {threshold:g} ({PAGED})"
    if as_in_training:
        return f"{figure}: below {threshold:g} ({AS_IN_TRAINING}; {NOT_PAGED})"
    if ratio < threshold:
        return f"{figure}: below {threshold:g} within noise ({NOT_PAGED})"
    return f"{figure}: at or above {threshold:g}"


def equal_opportunity_verdict(
    *,
    attribute: str,
    ratio: float | None,
    low: float | None,
    high: float | None,
    lowest_group: str | None,
    highest_group: str | None,
    judged: bool,
    note: str | None = None,
) -> str:
    """One attribute's outcome fairness (the quality job's; reported, never paged)."""
    if not judged or ratio is None:
        return f"{attribute}: not judged ({note or 'too few labelled rows in a group'})"
    pair = f", {lowest_group} vs {highest_group}" if lowest_group and highest_group else ""
    return f"{attribute}: equal opportunity {ratio:.2f}{interval(low, high)}{pair} (reported; {NOT_PAGED})"


def quality_verdict(verdict: str) -> str:
    """The quality verdict in words ('quality degraded (paged)'); an unknown verdict as it came."""
    words = QUALITY_VERDICTS.get(verdict, verdict)
    return f"{words} ({PAGED})" if verdict in ("degraded", "error") else words


def estimate_verdict(holds: bool | None, value: float | None, validation: float | None) -> str:
    """The estimate's judgement: 'estimated AUC 0.741 vs validation 0.780: estimated quality holds'."""
    if holds is None or value is None:
        return "estimated quality not computed"
    judged = "estimated quality holds" if holds else "estimated quality does not hold"
    against = f" vs validation {validation:.3f}" if validation is not None else ""
    return f"estimated AUC {value:.3f}{against}: {judged}"


def quality_population(name: str | None, rows: int | None = None) -> str:
    """Whose outcomes the realized figures cover: '412 booked loans (approved applicants with an outcome)'."""
    if name not in POPULATIONS:
        return "no realized figures"
    described = POPULATIONS[name][0]
    return described if rows is None else f"{rows} {described}"


def validation_population(name: str | None, holdout: str = "original") -> str:
    """What a population's validation figures rest on: 'holdout rows the model approves' (of the recent one, named)."""
    rows = POPULATIONS[name][1] if name in POPULATIONS else POPULATIONS["all_scored"][1]
    return f"recent labelled {rows}" if holdout == "recent" else rows


def reviewed_share(reviewed: int, rows: int, overridden: int) -> str:
    """Whose decisions a report's figures use: '12 of 400 decisions were a reviewer's (3 against the model)'."""
    if not reviewed:
        return f"none of the {rows} decisions was a reviewer's: every figure is the model's decision"
    against = f"{overridden} against the model" if overridden else "none against the model"
    return (
        f"{reviewed} of {rows} decisions were a reviewer's ({against}): where a reviewer decided, "
        "the figures use the final decision"
    )


def pending_referrals(pending: int) -> str:
    """Referred cases nobody decided yet, and how the figures count them."""
    if not pending:
        return "no referred case is pending"
    cases = "case is" if pending == 1 else "cases are"
    return f"{pending} referred {cases} still pending: counted with the model's decision until a reviewer decides"


def referral_rate(referred: int | None, rows: int) -> str:
    """A window's referrals: '12 of 400 scored applications (3.0%) referred to a reviewer'."""
    if referred is None or not rows:
        return "referrals not counted"
    return f"{referred} of {rows} scored applications ({referred / rows:.1%}) referred to a reviewer"
