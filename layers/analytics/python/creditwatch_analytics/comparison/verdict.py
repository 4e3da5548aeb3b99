"""The verdict of a comparison, by the rule docs/operate.md states ("Champion against challenger").

- reject: on matured outcomes the challenger is worse beyond noise (the AUC difference's 95% interval
  wholly below 0, or the expected cost difference's wholly above 0), or on shadow traffic its disparate
  impact ratio is lower than the champion's beyond noise for a protected attribute (the paired
  difference's interval wholly below minus the tolerance);
- promote: none of that, and it is better beyond noise on realized quality (AUC difference's interval
  wholly above 0, or expected cost difference's wholly below 0), on at least `min_labelled_rows` matured
  outcomes and `min_shadow_rows` shadow rows, with the approval rate changing by at most
  `max_approval_change` (absolute);
- hold: anything else (too little evidence, no difference beyond noise, or an approval change beyond
  the bound: a business decision, not a statistical one).
"""

from __future__ import annotations

from creditwatch_analytics.comparison.models import ComparisonFigures, Estimate, Rule
from creditwatch_common.model_registry import Verdict


def _range(e: Estimate, fmt: str = "{:+.3f}") -> str:
    if e.value is None:
        return "n/a"
    if e.low is None or e.high is None:
        return fmt.format(e.value)
    return f"{fmt.format(e.value)} (95% {fmt.format(e.low)} to {fmt.format(e.high)})"


def judge(figures: ComparisonFigures, rule: Rule) -> tuple[Verdict, list[str]]:
    """promote, hold or reject, and the reasons in words (the deciding ones first)."""
    diff = figures.realized.difference
    auc, cost = diff.get("auc", Estimate()), diff.get("expected_cost", Estimate())
    enough_outcomes = figures.realized.rows >= rule.min_labelled_rows
    worse = []
    if enough_outcomes:
        if auc.high is not None and auc.high < 0:
            worse.append(f"realized AUC lower beyond noise: challenger minus champion {_range(auc)}")
        if cost.low is not None and cost.low > 0:
            worse.append(f"expected cost higher beyond noise: challenger minus champion {_range(cost)}")
    for g in figures.fairness:
        d = g.difference
        if g.judged and d.high is not None and d.high < -rule.fairness_tolerance:
            worse.append(f"{g.attribute}: disparate impact lower beyond noise: challenger minus champion {_range(d)}")
    if worse:
        return "reject", worse
    change = figures.approval_rate_change
    held = []
    if figures.shadow_rows < rule.min_shadow_rows:
        held.append(f"{figures.shadow_rows} shadow rows, fewer than the {rule.min_shadow_rows} needed")
    if not enough_outcomes:
        held.append(
            f"{figures.realized.rows} matured outcomes scored by both, fewer than the {rule.min_labelled_rows} needed"
        )
    better = (auc.low is not None and auc.low > 0) or (cost.high is not None and cost.high < 0)
    if enough_outcomes and not better:
        held.append(f"not better beyond noise: AUC {_range(auc)}, expected cost {_range(cost)}")
    if change.value is not None and abs(change.value) > rule.max_approval_change:
        held.append(
            f"approval rate changes by {_range(change, '{:+.1%}')}, beyond the bound of {rule.max_approval_change:.0%}"
        )
    if held:
        return "hold", held
    return "promote", [
        f"better beyond noise on matured outcomes: AUC {_range(auc)}, expected cost {_range(cost)}",
        f"fairness not worse beyond noise; approval rate changes by {_range(change, '{:+.1%}')}",
    ]
