"""Outcome fairness by protected group (issue 14.2): equal opportunity, false approvals, calibration by group.

Needs outcomes. Per group of each protected attribute (the groups of the drift run's decision fairness:
sex, age band, foreign worker), fairlearn's MetricFrame gives the true-positive rate (approved among
good applicants: equal opportunity), the false-positive rate (approved among bad applicants: false
approvals) and the count; the mean P(good) beside the observed good rate is calibration by group. The
equal-opportunity difference and ratio (fairlearn's equal_opportunity_difference and _ratio: highest
group TPR - lowest, lowest / highest) compare the groups of at least the minimum size. Each rate's 95%
interval is Jeffreys' (the Beta(k + 1/2, n - k + 1/2) posterior's quantiles); the gap's interval comes
from seeded draws of the two compared groups' rates from those posteriors, as the decision fairness
does (creditwatch_drift.fairness).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditwatch_analytics.groups import ATTRIBUTES, CONFIDENCE, protected_groups
from creditwatch_quality.models import GroupOutcome, OutcomeFairness


def jeffreys(k: float, n: float) -> tuple[float, float]:
    """Jeffreys 95% interval of a rate of k in n (n > 0)."""
    from scipy.stats import beta

    tail = (1 - CONFIDENCE) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k + 0.5, n - k + 0.5))
    high = 1.0 if k == n else float(beta.ppf(1 - tail, k + 0.5, n - k + 0.5))
    return round(low, 6), round(high, 6)


def outcome_fairness(
    frame: pd.DataFrame,
    y: np.ndarray,
    approved: np.ndarray,
    probability: np.ndarray,
    *,
    age_cuts: Sequence[int],
    min_group_size: int,
    resamples: int,
    seed: int = 0,
    booked_only: bool = False,
) -> dict[str, OutcomeFairness]:
    """Each protected attribute's outcome fairness over the labelled rows (frame holds their features).

    booked_only: every labelled row was approved (booked loans), so approvals among good or bad applicants
    say nothing; only calibration by group (mean P(good) against the observed good rate) is reported.
    """
    groups = protected_groups(frame, age_cuts)
    if booked_only:
        return {name: booked_fairness(y, probability, groups[name].reset_index(drop=True)) for name in ATTRIBUTES}
    return {
        name: attribute_fairness(
            y, approved, probability, groups[name].reset_index(drop=True), min_group_size, resamples, seed
        )
        for name in ATTRIBUTES
    }


BOOKED_NOTE = "equal opportunity needs outcomes of refused applicants; booked loans only have them for approvals"


def booked_fairness(y: np.ndarray, probability: np.ndarray, groups: pd.Series) -> OutcomeFairness:
    """Calibration by group of one attribute among booked loans; equal opportunity not judged (BOOKED_NOTE)."""
    known = groups.notna().to_numpy()
    yk, pk, gk = y[known].astype(int), probability[known].astype(float), groups[known].astype(str).to_numpy()
    out: dict[str, GroupOutcome] = {}
    for name in sorted(set(gk)):
        mask = gk == name
        n, goods = int(mask.sum()), int(yk[mask].sum())
        out[name] = GroupOutcome(
            count=n,
            goods=goods,
            bads=n - goods,
            true_positive_rate=None,
            tpr_interval=None,
            false_approval_rate=None,
            far_interval=None,
            mean_probability=round(float(pk[mask].mean()), 6),
            observed_good_rate=round(goods / n, 6),
            good_rate_interval=jeffreys(goods, n),
            judged=False,
        )
    return OutcomeFairness(rows=len(yk), groups=out, judged=False, note=BOOKED_NOTE)


def attribute_fairness(
    y: np.ndarray,
    approved: np.ndarray,
    probability: np.ndarray,
    groups: pd.Series,
    min_group_size: int,
    resamples: int,
    seed: int,
) -> OutcomeFairness:
    """Rates by group of one attribute, and the equal-opportunity gap between the groups large enough to judge."""
    # Imported on first use: fairlearn costs ~1.5 s of import, which init need not pay.
    from fairlearn.metrics import MetricFrame, count, false_positive_rate, true_positive_rate

    known = groups.notna().to_numpy()
    yk = y[known].astype(int)
    ak = approved[known].astype(int)
    pk = probability[known].astype(float)
    gk = groups[known].astype(str).to_numpy()
    if len(yk) == 0:
        return OutcomeFairness(rows=0, groups={}, judged=False, note="no labelled rows with this attribute")
    by_group = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "count": count},
        y_true=yk,
        y_pred=ak,
        sensitive_features=gk,
    ).by_group
    out: dict[str, GroupOutcome] = {}
    tpr = {str(name): float(value) for name, value in by_group["tpr"].items()}
    for name, row in by_group.iterrows():
        mask = gk == name
        goods, bads = int(yk[mask].sum()), int((1 - yk[mask]).sum())
        tp, fp = int((ak[mask] & yk[mask]).sum()), int((ak[mask] & (1 - yk[mask])).sum())
        n = int(row["count"])
        out[str(name)] = GroupOutcome(
            count=n,
            goods=goods,
            bads=bads,
            true_positive_rate=round(float(row["tpr"]), 6) if goods else None,
            tpr_interval=jeffreys(tp, goods) if goods else None,
            false_approval_rate=round(float(row["fpr"]), 6) if bads else None,
            far_interval=jeffreys(fp, bads) if bads else None,
            mean_probability=round(float(pk[mask].mean()), 6),
            observed_good_rate=round(goods / n, 6),
            good_rate_interval=jeffreys(goods, n),
            judged=n >= min_group_size and goods > 0,
        )
    judged = {g: r for g, r in out.items() if r.judged}
    if len(judged) < 2:
        return OutcomeFairness(
            rows=len(yk),
            groups=out,
            judged=False,
            note=f"fewer than two groups of at least {min_group_size} labelled rows (with good outcomes): not judged",
        )
    lowest = min(judged, key=lambda g: judged[g].true_positive_rate or 0.0)
    highest = max(judged, key=lambda g: judged[g].true_positive_rate or 0.0)
    # fairlearn's equal_opportunity_difference / _ratio over the judged groups (between_groups): the same
    # MetricFrame's rates, read once (each of those functions would build its own frame of the rows).
    tpr_low, tpr_high = tpr[lowest], tpr[highest]
    difference = tpr_high - tpr_low
    ratio = tpr_low / tpr_high if tpr_high else None
    far = [r.false_approval_rate for r in judged.values() if r.false_approval_rate is not None]
    rng = np.random.default_rng(seed)
    lo, hi = judged[lowest], judged[highest]
    pair_goods = np.array([lo.goods, hi.goods], dtype=float)
    pair_tps = np.round(np.array([lo.true_positive_rate or 0.0, hi.true_positive_rate or 0.0]) * pair_goods)
    # The pair the point figures compare, held fixed (re-picking min and max per draw biases the gap up).
    draws = rng.beta(pair_tps + 0.5, pair_goods - pair_tps + 0.5, size=(resamples, 2))
    return OutcomeFairness(
        rows=len(yk),
        groups=out,
        judged=True,
        equal_opportunity_difference=round(difference, 6),
        difference_interval=_interval(draws[:, 1] - draws[:, 0]),
        equal_opportunity_ratio=round(ratio, 6) if ratio is not None else None,
        ratio_interval=_interval(draws[:, 0] / draws[:, 1]) if ratio is not None else None,
        lowest_group=lowest,
        highest_group=highest,
        false_approval_difference=round(max(far) - min(far), 6) if len(far) >= 2 else None,
    )


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return round(float(low), 6), round(float(high), 6)
