"""The verdict of a quality run, from its realized figures against validation (pure: tested on its own)."""

from __future__ import annotations

from collections.abc import Mapping

from creditwatch_quality.models import Figure, Verdict


def judge(
    rows: int,
    labelled_rows: int,
    realized: Mapping[str, Figure],
    validation: Mapping[str, Figure],
    *,
    min_labelled_rows: int,
    auc_drop: float,
    cost_rise: float,
) -> tuple[Verdict, list[str]]:
    """no_data, insufficient_labels, degraded (with the reasons) or ok.

    Degraded needs the figure past its threshold AND its 95% interval past validation: a cohort whose
    AUC is 0.06 under validation by chance (its interval reaching validation) pages nobody.
    """
    if rows == 0:
        return "no_data", []
    if labelled_rows < min_labelled_rows:
        return "insufficient_labels", [f"{labelled_rows} labelled row(s), {min_labelled_rows} needed to judge"]
    reasons = []
    auc, v_auc = realized.get("auc"), validation.get("auc")
    if auc and v_auc and auc.value is not None and v_auc.value is not None:
        floor = v_auc.value - auc_drop
        if auc.value < floor and auc.high is not None and auc.high < v_auc.value:
            reasons.append(
                f"AUC {auc.value:.3f} (95% {auc.low:.3f}-{auc.high:.3f}) < validation {v_auc.value:.3f} - {auc_drop}"
            )
    cost, v_cost = realized.get("expected_cost"), validation.get("expected_cost")
    if cost and v_cost and cost.value is not None and v_cost.value is not None:
        ceiling = v_cost.value + cost_rise
        if cost.value > ceiling and cost.low is not None and cost.low > v_cost.value:
            reasons.append(
                f"expected cost per applicant {cost.value:.3f} (95% {cost.low:.3f}-{cost.high:.3f}) "
                f"> validation {v_cost.value:.3f} + {cost_rise}"
            )
    return ("degraded" if reasons else "ok"), reasons
