"""The verdict of a quality run, from its realized figures against validation (pure: tested on its own)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from creditwatch_quality.models import Figure, Verdict


def _reach(figure: Figure, towards: str) -> float:
    """How far the figure's 95% interval reaches from its value (0 without an interval)."""
    bound = figure.high if towards == "high" else figure.low
    return 0.0 if bound is None or figure.value is None else abs(bound - figure.value)


def _beyond_noise(realized: Figure, reference: Figure, worse: str) -> bool:
    """Whether the 95% interval of realized - reference lies wholly on the worse side of zero.

    Both are samples (the cohort's labelled rows, the holdout's rows): their interval halves towards each
    other add in quadrature, as independent errors do. A reference without an interval counts as exact.
    """
    gap = (realized.value or 0.0) - (reference.value or 0.0)
    if worse == "lower":
        return gap + math.hypot(_reach(realized, "high"), _reach(reference, "low")) < 0
    return gap - math.hypot(_reach(realized, "low"), _reach(reference, "high")) > 0


def judge(
    rows: int,
    labelled_rows: int,
    realized: Mapping[str, Figure],
    validation: Mapping[str, Figure],
    *,
    min_labelled_rows: int,
    auc_drop: float,
    cost_rise: float,
    cost_per: str = "applicant",
    labelled_as: str = "labelled row(s)",
) -> tuple[Verdict, list[str]]:
    """no_data, insufficient_labels, degraded (with the reasons) or ok.

    `validation` is the same population's as `realized` (booked loans or every scored applicant; `cost_per`
    names the expected cost's unit, `labelled_as` the labelled rows: applicants, or booked loans). Degraded
    needs the figure past its threshold AND the difference from validation beyond noise (its 95% interval,
    both figures' intervals combined, clear of zero): a cohort whose AUC is 0.06 under validation by chance
    pages nobody, nor does a cohort compared with a validation figure resting on a few rows.
    """
    if rows == 0:
        return "no_data", []
    if labelled_rows < min_labelled_rows:
        return "insufficient_labels", [f"{labelled_rows} {labelled_as}, {min_labelled_rows} needed to judge"]
    reasons = []
    auc, v_auc = realized.get("auc"), validation.get("auc")
    if (
        auc
        and v_auc
        and auc.value is not None
        and v_auc.value is not None
        and auc.value < v_auc.value - auc_drop
        and _beyond_noise(auc, v_auc, "lower")
    ):
        reasons.append(
            f"AUC {auc.value:.3f} (95% {auc.low:.3f}-{auc.high:.3f}) < validation {v_auc.value:.3f} - {auc_drop}"
        )
    cost, v_cost = realized.get("expected_cost"), validation.get("expected_cost")
    if (
        cost
        and v_cost
        and cost.value is not None
        and v_cost.value is not None
        and cost.value > v_cost.value + cost_rise
        and _beyond_noise(cost, v_cost, "higher")
    ):
        reasons.append(
            f"expected cost per {cost_per} {cost.value:.3f} (95% {cost.low:.3f}-{cost.high:.3f}) "
            f"> validation {v_cost.value:.3f} + {cost_rise}"
        )
    return ("degraded" if reasons else "ok"), reasons
