"""The comparison's figures and verdict: pure functions over shadow rows and labelled rows."""

import numpy as np
import pandas as pd
import pytest

from creditwatch_analytics.comparison import decisions
from creditwatch_analytics.comparison.compare import compare
from creditwatch_analytics.comparison.models import (
    ComparisonFigures,
    Estimate,
    GroupFairness,
    RealizedComparison,
    Rule,
    Side,
)
from creditwatch_analytics.comparison.realized import realized
from creditwatch_analytics.comparison.verdict import judge

RULE = Rule(resamples=200)


def shadow_frame(n=3000, seed=0, shift=0.05, misses=7):
    """Shadow rows: the challenger's P(good) the champion's plus noise and a shift; some records it missed."""
    rng = np.random.default_rng(seed)
    p_c = rng.beta(4, 2, n)
    p_h = np.clip(p_c + shift + rng.normal(0, 0.08, n), 0, 1)
    frame = pd.DataFrame(
        {
            "prediction_id": [f"id-{i}" for i in range(n)],
            "ts": pd.date_range("2026-11-01", periods=n, freq="5min", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "model_version": "champ",
            "probability_good_credit": p_c,
            "decision": np.where(p_c >= 0.6, "approve", "refuse"),
            "challenger_version": "chall",
            "challenger_probability_good_credit": p_h,
            "challenger_decision": np.where(p_h >= 0.6, "approve", "refuse"),
            "first_reason": rng.choice(["duration_in_month", "credit_amount", None], n),
            "challenger_first_reason": rng.choice(["duration_in_month", "purpose"], n),
            "personal_status_and_sex": rng.choice(["A91", "A92", "A93"], n),
            "age_in_years": rng.integers(19, 70, n),
            "foreign_worker": rng.choice(["A201", "A202"], n),
        }
    )
    frame.loc[: misses - 1, ["challenger_probability_good_credit", "challenger_decision"]] = None
    # Records before the shadow began: no challenger at all.
    before = frame.iloc[:50].copy()
    before["challenger_version"] = None
    return pd.concat([frame, before], ignore_index=True)


def labelled_frame(shadow, better=True, seed=1):
    """Outcomes drawn from the challenger's P(good) (better=True: it is the better-calibrated model)."""
    rng = np.random.default_rng(seed)
    rows = shadow[shadow["challenger_probability_good_credit"].notna()].copy()
    truth = rows["challenger_probability_good_credit" if better else "probability_good_credit"].to_numpy(dtype=float)
    rows["outcome"] = np.where(rng.random(len(rows)) < truth, "good", "bad")
    return rows


def test_the_swap_set_adds_up_to_the_applications_both_models_scored():
    frame = shadow_frame()
    figures = compare(frame, frame.iloc[:0], RULE, age_cuts=(25,), min_group_size=30)
    s = figures.swap_set
    assert s.total == s.both + s.champion_only + s.challenger_only + s.neither == figures.shadow_rows == 3000 - 7
    assert figures.shadow_misses == 7 and min(s.both, s.champion_only, s.challenger_only, s.neither) > 0
    rows = frame[frame.challenger_version.notna()].dropna(subset=["challenger_probability_good_credit"])
    assert s.challenger_only == int(((rows.decision == "refuse") & (rows.challenger_decision == "approve")).sum())
    change = (s.challenger_only - s.champion_only) / s.total
    assert figures.approval_rate_change.value == pytest.approx(change, abs=1e-6)
    assert figures.approval_rate["challenger"] - figures.approval_rate["champion"] == pytest.approx(change, abs=1e-5)


def test_the_score_psi_is_zero_for_identical_scores_and_grows_with_a_shift():
    p = np.random.default_rng(0).random(5000)
    assert decisions.score_psi(p, p.copy()) == 0.0
    assert decisions.score_psi(p, np.clip(p + 0.1, 0, 1)) > decisions.score_psi(p, np.clip(p + 0.02, 0, 1)) > 0


def test_the_bootstrap_intervals_are_the_same_for_the_same_seed_and_differ_for_another():
    frame = shadow_frame()
    labelled = labelled_frame(frame)
    one = compare(frame, labelled, RULE, age_cuts=(25,), min_group_size=30)
    two = compare(frame, labelled, RULE, age_cuts=(25,), min_group_size=30)
    other = compare(frame, labelled, RULE.model_copy(update={"seed": 5}), age_cuts=(25,), min_group_size=30)
    assert one.model_dump() == two.model_dump()
    assert one.approval_rate_change != other.approval_rate_change
    assert one.realized.difference["auc"] != other.realized.difference["auc"]
    assert one.approval_rate_change.value == other.approval_rate_change.value  # the point figure is not drawn


def test_a_model_compared_with_itself_differs_by_exactly_nothing():
    rng = np.random.default_rng(3)
    p = rng.random(800)
    y = (rng.random(800) < p).astype(int)
    out = realized(y, p, p >= 0.5, p.copy(), p >= 0.5, resamples=200, seed=0)
    for name in ("auc", "expected_cost", "bad_rate_approved"):
        assert out.difference[name] == Estimate(value=0.0, low=0.0, high=0.0)
        assert out.champion[name] == out.challenger[name]


def test_the_realized_figures_find_the_better_model_on_its_own_outcomes():
    frame = shadow_frame(shift=0.0)
    better = compare(frame, labelled_frame(frame, better=True), RULE, age_cuts=(25,), min_group_size=30)
    worse = compare(frame, labelled_frame(frame, better=False), RULE, age_cuts=(25,), min_group_size=30)
    assert better.realized.rows == 3000 - 7
    assert better.realized.difference["auc"].low > 0 and worse.realized.difference["auc"].high < 0


def test_disparate_impact_is_reported_under_each_model_with_intervals():
    frame = shadow_frame()
    figures = compare(frame, frame.iloc[:0], RULE, age_cuts=(25,), min_group_size=30)
    by_name = {g.attribute: g for g in figures.fairness}
    assert set(by_name) == {"sex", "age", "foreign_worker"}
    for g in by_name.values():
        assert g.judged and g.champion.low <= g.champion.value <= g.champion.high
        assert g.challenger.low <= g.challenger.value <= g.challenger.high
        assert g.difference.value == pytest.approx(g.challenger.value - g.champion.value, abs=2e-6)
    assert sum(by_name["sex"].groups.values()) == figures.shadow_rows


def test_the_first_reason_mix_is_over_each_models_refusals_with_a_reason():
    frame = shadow_frame()
    figures = compare(frame, frame.iloc[:0], RULE, age_cuts=(25,), min_group_size=30)
    rows = frame[frame.challenger_version.notna()].dropna(subset=["challenger_probability_good_credit"])
    refused = rows[(rows.decision == "refuse") & rows.first_reason.notna()]
    assert figures.champion.refusals_with_reason == len(refused)
    assert sum(figures.champion.first_reasons.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(figures.challenger.first_reasons) == {"duration_in_month", "purpose"}


def test_no_challenger_in_the_window_gives_no_comparison():
    frame = shadow_frame()
    frame["challenger_version"] = None
    assert compare(frame, frame.iloc[:0], RULE, age_cuts=(25,), min_group_size=30) is None


def _figures(auc=None, cost=None, change=0.02, rows=1000, shadow=5000, fairness=None):
    return ComparisonFigures(
        champion_version="a",
        challenger_version="b",
        shadow_rows=shadow,
        approval_rate_change=Estimate(value=change, low=change - 0.01, high=change + 0.01),
        champion=Side(version="a"),
        challenger=Side(version="b"),
        realized=RealizedComparison(
            rows=rows,
            difference={
                "auc": Estimate(**dict(zip(("value", "low", "high"), auc or (0.0, -0.01, 0.01), strict=True))),
                "expected_cost": Estimate(
                    **dict(zip(("value", "low", "high"), cost or (0.0, -0.02, 0.02), strict=True))
                ),
            },
        ),
        fairness=fairness or [],
    )


@pytest.mark.parametrize(
    ("figures", "verdict", "words"),
    [
        (_figures(auc=(0.05, 0.02, 0.08)), "promote", "better beyond noise"),
        (_figures(cost=(-0.1, -0.15, -0.05)), "promote", "better beyond noise"),
        (_figures(auc=(-0.05, -0.08, -0.02)), "reject", "AUC lower beyond noise"),
        (_figures(cost=(0.1, 0.05, 0.15), auc=(0.05, 0.02, 0.08)), "reject", "expected cost higher"),
        (
            _figures(
                auc=(0.05, 0.02, 0.08),
                fairness=[
                    GroupFairness(attribute="sex", judged=True, difference=Estimate(value=-0.2, low=-0.3, high=-0.1))
                ],
            ),
            "reject",
            "sex: disparate impact lower beyond noise",
        ),
        (_figures(), "hold", "not better beyond noise"),
        (_figures(auc=(0.05, 0.02, 0.08), rows=50), "hold", "50 matured outcomes"),
        (_figures(auc=(0.05, 0.02, 0.08), shadow=100), "hold", "100 shadow rows"),
        (_figures(auc=(0.05, 0.02, 0.08), change=0.2), "hold", "beyond the bound of 10%"),
        (_figures(auc=(-0.05, -0.08, -0.02), rows=50), "hold", "50 matured outcomes"),  # too few to judge worse
    ],
    ids=[
        "auc better",
        "cost lower",
        "auc worse",
        "cost higher",
        "fairness worse",
        "no difference",
        "too few outcomes",
        "too few shadow rows",
        "approval change beyond the bound",
        "worse on too few outcomes",
    ],
)
def test_the_verdict_follows_the_stated_rule(figures, verdict, words):
    got, reasons = judge(figures, Rule())
    assert got == verdict and any(words in r for r in reasons), reasons
