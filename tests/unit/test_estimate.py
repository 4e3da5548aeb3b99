"""Estimated quality before outcomes (CBPE): the calibration map, NannyML's definitions, and simulations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import auc as trapezoid_auc

from creditwatch_model import ARTIFACTS_DIR, quality
from creditwatch_model.calibration import CALIBRATION_FILE, Calibration
from creditwatch_model.estimate import ESTIMATED, estimate_quality, expected_confusion, quality_holds

# Linear in the outcomes, so their realized value should fall in the estimate's interval when the assumption holds.
CHECKED = ("auc", "brier", "log_loss", "accuracy", "approval_rate", "bad_rate_approved", "expected_cost")


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return Calibration.load(ARTIFACTS_DIR)


@pytest.fixture(scope="module")
def reference(model) -> pd.DataFrame:
    return pd.read_csv(
        ARTIFACTS_DIR / "reference.csv", dtype={f.name: str for f in model.schema.features if f.is_categorical}
    )


def draw_rows(model, reference: pd.DataFrame, n: int, seed: int, weights: np.ndarray | None = None) -> pd.DataFrame:
    """n applications resampled from the training split (weights: a covariate shift)."""
    rng = np.random.default_rng(seed)
    prob = None if weights is None else weights / weights.sum()
    index = rng.choice(len(reference), size=n, p=prob)
    return reference.iloc[index][model.schema.names].reset_index(drop=True)


def outcomes(p_bad: np.ndarray, seed: int) -> np.ndarray:
    """1 (good) or 0 (bad), each bad with its probability."""
    return (np.random.default_rng(seed).random(len(p_bad)) >= p_bad).astype(int)


def test_the_shipped_calibration_maps_p_good_to_a_falling_p_bad_strictly_inside_0_1(calibration):
    body = json.loads((ARTIFACTS_DIR / CALIBRATION_FILE).read_text())
    assert body["method"] == "sigmoid" and isinstance(body["slope"], float)
    grid = np.linspace(0, 1, 1001)
    p_bad = calibration.bad_probability(grid)
    assert np.all(np.diff(p_bad) <= 0) and np.all((p_bad > 0) & (p_bad < 1))
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    assert body["cv_log_loss"]["sigmoid"] < body["cv_log_loss"]["isotonic"]


def test_calibrated_p_bad_matches_the_holdout_bad_rate_better_than_the_served_one(model):
    check = model.metadata["calibration"]["holdout_check"]
    observed = check["observed_bad_rate"]
    assert abs(check["calibrated"]["mean_p_bad"] - observed) < 0.02
    assert check["calibrated"]["brier"] < check["served"]["brier"]
    assert check["calibrated"]["ece"] < check["served"]["ece"]


def test_an_isotonic_calibration_is_scikit_learns_isotonic_regression():
    rng = np.random.default_rng(5)
    p = rng.random(500)
    bad = (rng.random(500) < 1 - p).astype(int)
    iso = IsotonicRegression(out_of_bounds="clip", increasing=False).fit(p, bad)
    ours = Calibration(method="isotonic", knots_p_good=tuple(iso.X_thresholds_), knots_p_bad=tuple(iso.y_thresholds_))
    grid = np.r_[-0.1, np.linspace(0, 1, 301), 1.1]
    assert np.allclose(ours.bad_probability(grid), iso.predict(grid), atol=1e-12)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"method": "platt", "slope": -1.0}, "unknown calibration method"),
        ({"method": "sigmoid", "slope": 1.0, "intercept": 0.0}, "non-positive slope"),
        ({"method": "isotonic", "knots_p_good": [0.1, 0.2], "knots_p_bad": [0.2, 0.5]}, "fall in P\\(bad\\)"),
        ({"method": "isotonic", "knots_p_good": [0.1], "knots_p_bad": []}, "as many"),
    ],
)
def test_a_malformed_calibration_is_refused(body, message):
    with pytest.raises(ValueError, match=message):
        Calibration.from_dict(body)


def nannyml_estimate_roc_auc(calibrated_p1: np.ndarray, model_p1: np.ndarray) -> float:
    """NannyML 0.13's estimate_roc_auc (performance_estimation/confidence_based/metrics.py), transcribed."""
    order = np.argsort(model_p1)[::-1]
    calibrated = calibrated_p1[order]
    tps = np.cumsum(calibrated)
    fps = 1 + np.arange(len(calibrated)) - tps
    tps, fps = np.round(np.r_[0, tps], 5), np.round(np.r_[0, fps], 5)
    return float(trapezoid_auc(fps / fps[-1], tps / tps[-1]))


def test_point_estimates_are_nannymls_cbpe_definitions(calibration):
    # Scores with ties (the forest gives many rows one score): ties form one step of the curve.
    rng = np.random.default_rng(2)
    p = np.round(rng.beta(4, 2, size=3000), 3)
    threshold = 0.795
    estimate = estimate_quality(p, calibration, threshold, n_boot=20)
    calibrated_good = 1 - calibration.bad_probability(p)
    y_pred = (p >= threshold).astype(int)
    assert estimate["auc"]["value"] == pytest.approx(nannyml_estimate_roc_auc(calibrated_good, p), abs=1e-5)
    # estimate_accuracy and the confusion-matrix estimates (normalize=None) of NannyML.
    tp = np.sum(np.where(y_pred == 1, calibrated_good, 0))
    fp = np.sum(np.where(y_pred == 1, 1 - calibrated_good, 0))
    tn = np.sum(np.where(y_pred == 0, 1 - calibrated_good, 0))
    fn = np.sum(np.where(y_pred == 0, calibrated_good, 0))
    assert estimate["accuracy"]["value"] == pytest.approx((tp + tn) / len(p), abs=1e-6)
    confusion = expected_confusion(p, calibration, threshold)
    assert [confusion[k] for k in ("tp", "fp", "tn", "fn")] == pytest.approx([tp, fp, tn, fn], abs=1e-5)
    assert estimate["bad_rate_approved"]["value"] == pytest.approx(fp / (tp + fp), abs=1e-6)
    assert estimate["expected_cost"]["value"] == pytest.approx((5 * fp + fn) / len(p), abs=1e-6)
    assert estimate["approval_rate"]["value"] == pytest.approx(y_pred.mean(), abs=1e-6)
    q = 1 - calibrated_good
    assert estimate["brier"]["value"] == pytest.approx(np.mean(q * p**2 + (1 - q) * (1 - p) ** 2), abs=1e-6)


def test_when_outcomes_follow_the_calibrated_probabilities_the_realized_figures_fall_in_the_estimate(
    model, reference, calibration
):
    rows = draw_rows(model, reference, 20_000, seed=1)
    p = model.predict_good(rows.to_dict("records"))
    estimate = estimate_quality(p, calibration, model.threshold, n_boot=400, seed=0)
    realized = quality.point(p, outcomes(calibration.bad_probability(p), seed=2), threshold=model.threshold)
    assert set(estimate) == set(ESTIMATED)
    for name in CHECKED:
        figure = estimate[name]
        assert figure["low"] <= realized[name] <= figure["high"], (name, realized[name], figure)


def test_the_estimate_interval_covers_the_realized_figure_about_95_times_in_100(calibration):
    rng = np.random.default_rng(8)
    hits = {name: 0 for name in CHECKED}
    runs = 60
    for run in range(runs):
        p = rng.beta(4, 2, size=1000)
        estimate = estimate_quality(p, calibration, 0.795, n_boot=200, seed=run)
        realized = quality.point(p, outcomes(calibration.bad_probability(p), seed=1000 + run), threshold=0.795)
        for name in CHECKED:
            hits[name] += estimate[name]["low"] <= realized[name] <= estimate[name]["high"]
    # 95% nominal; 60 runs leave room for binomial noise (P(<= 51 of 60 | 0.95) < 1%).
    assert all(count >= 52 for count in hits.values()), hits


def test_under_covariate_shift_the_estimate_follows_the_realized_figures(model, reference, calibration):
    # Long, large loans are over-represented (weights by duration): inputs move, the relation holds.
    weights = np.exp(reference["duration_in_month"].to_numpy() / 8.0)
    base = draw_rows(model, reference, 20_000, seed=3)
    shifted = draw_rows(model, reference, 20_000, seed=3, weights=weights)
    p_base = model.predict_good(base.to_dict("records"))
    p = model.predict_good(shifted.to_dict("records"))
    assert shifted["duration_in_month"].mean() > base["duration_in_month"].mean() + 10
    estimate = estimate_quality(p, calibration, model.threshold, n_boot=400, seed=0)
    before = estimate_quality(p_base, calibration, model.threshold, n_boot=50, seed=0)
    realized = quality.point(p, outcomes(calibration.bad_probability(p), seed=4), threshold=model.threshold)
    for name in CHECKED:
        assert estimate[name]["low"] <= realized[name] <= estimate[name]["high"], (name, realized[name], estimate[name])
    # The shift moved the figures (fewer approvals, so less cost of approved bads) and the estimate moved with them.
    assert estimate["approval_rate"]["value"] < before["approval_rate"]["value"] - 0.05
    assert abs(estimate["expected_cost"]["value"] - before["expected_cost"]["value"]) > 0.05


def test_under_concept_drift_the_estimate_misses_the_realized_figures(model, reference, calibration):
    # Inputs as in training, but outcomes now follow age alone (young applicants default): the model
    # cannot know, so its confidence still promises the validated quality.
    rows = draw_rows(model, reference, 20_000, seed=5)
    p = model.predict_good(rows.to_dict("records"))
    drifted_p_bad = np.where(rows["age_in_years"].to_numpy() < 30, 0.55, 0.2)
    estimate = estimate_quality(p, calibration, model.threshold, n_boot=400, seed=0)
    realized = quality.point(p, outcomes(drifted_p_bad, seed=6), threshold=model.threshold)
    assert realized["auc"] < estimate["auc"]["low"] - 0.1
    assert realized["expected_cost"] > estimate["expected_cost"]["high"]
    validation_auc = model.metadata["metrics"]["validation"]["auc"]["value"]
    # The no-concept-drift assumption: the estimate still says quality holds.
    assert quality_holds(estimate, validation_auc)["holds"] is True


def test_quality_holds_while_estimated_auc_stays_within_the_drop_of_validation():
    def auc(value: float | None) -> dict:
        return {"auc": {"value": value, "low": None, "high": None}}

    assert quality_holds(auc(0.74), 0.78)["holds"] is True
    broken = quality_holds(auc(0.72), 0.78)
    assert broken["holds"] is False and broken["reasons"] == ["estimated AUC 0.720 < validation 0.780 - 0.05"]
    assert quality_holds(auc(None), 0.78)["holds"] is False
    assert set(quality_holds(auc(0.8), 0.78)) >= {"auc", "holds", "validation_auc"}


def test_the_estimate_repeats_with_its_seed_and_refuses_what_is_not_a_probability(calibration):
    p = np.random.default_rng(0).random(500)
    assert estimate_quality(p, calibration, 0.795, n_boot=100, seed=1) == estimate_quality(
        p, calibration, 0.795, n_boot=100, seed=1
    )
    with pytest.raises(ValueError, match="probabilities"):
        estimate_quality(np.array([0.2, np.nan]), calibration, 0.795)
