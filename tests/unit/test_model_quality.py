"""The quality figures of creditwatch_model.quality against scikit-learn and scipy, and their bootstrap."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, confusion_matrix, log_loss, roc_auc_score

from creditwatch_model import ARTIFACTS_DIR, quality

THRESHOLD = 0.795


@pytest.fixture(scope="module")
def cohort() -> tuple[np.ndarray, np.ndarray]:
    """2,000 scores rounded to 2 places (many ties) and outcomes related to them."""
    rng = np.random.default_rng(11)
    p = np.round(rng.beta(4, 2, size=2000), 2)
    good = (rng.random(2000) < p).astype(int)
    return p, good


def test_every_figure_matches_scikit_learn_and_scipy_with_ties(cohort):
    p, good = cohort
    figures = quality.point(p, good, threshold=THRESHOLD)
    approved = p >= THRESHOLD
    assert figures["auc"] == pytest.approx(roc_auc_score(good, p), abs=1e-12)
    assert figures["gini"] == pytest.approx(2 * roc_auc_score(good, p) - 1, abs=1e-12)
    assert figures["ks"] == pytest.approx(ks_2samp(p[good == 1], p[good == 0]).statistic, abs=1e-12)
    assert figures["brier"] == pytest.approx(brier_score_loss(good, p), abs=1e-12)
    assert figures["log_loss"] == pytest.approx(log_loss(good, p), abs=1e-12)
    (tn, fp), (fn, tp) = confusion_matrix(good, approved.astype(int), labels=[0, 1])
    assert quality.confusion(p, good, threshold=THRESHOLD) == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert figures["approval_rate"] == pytest.approx(approved.mean())
    assert figures["bad_rate_approved"] == pytest.approx(fp / (tp + fp))
    assert figures["expected_cost"] == pytest.approx((5 * fp + fn) / len(p))
    assert figures["accuracy"] == pytest.approx((tp + tn) / len(p))


def test_ece_and_the_calibration_table_use_ten_equal_bands_of_p_bad(cohort):
    p, good = cohort
    p_bad, bad = 1 - p, 1 - good
    band = np.minimum((p_bad * 10).astype(int), 9)
    by_hand = sum(abs(p_bad[band == b].mean() - bad[band == b].mean()) * np.mean(band == b) for b in np.unique(band))
    assert quality.point(p, good, threshold=THRESHOLD)["ece"] == pytest.approx(by_hand, abs=1e-12)
    table = quality.calibration_table(p, good)
    assert [row["band"] for row in table][:2] == ["0.0-0.1", "0.1-0.2"] and len(table) == 10
    assert sum(row["rows"] for row in table) == len(p)
    third = table[3]
    assert third["observed_bad_rate"] == pytest.approx(bad[band == 3].mean(), abs=1e-6)
    assert third["expected_bad_rate"] == pytest.approx(p_bad[band == 3].mean(), abs=1e-6)


def test_the_decisions_taken_override_the_threshold(cohort):
    p, good = cohort
    approved = np.zeros(len(p), dtype=bool)
    approved[:100] = True
    figures = quality.point(p, good, approved=approved)
    assert figures["approval_rate"] == pytest.approx(0.05)
    assert figures["bad_rate_approved"] == pytest.approx(1 - good[:100].mean())


def test_bootstrap_intervals_bracket_the_value_and_repeat_with_the_seed(cohort):
    p, good = cohort
    first = quality.realized(p, good, threshold=THRESHOLD, resamples=300, seed=3)
    again = quality.realized(p, good, threshold=THRESHOLD, resamples=300, seed=3)
    other = quality.realized(p, good, threshold=THRESHOLD, resamples=300, seed=4)
    assert first == again and first != other
    assert set(first) == set(quality.METRICS)
    for name, figure in first.items():
        assert figure["low"] <= figure["value"] <= figure["high"], name
        assert figure["low"] < figure["high"], name


def test_bootstrap_spread_matches_the_textbook_standard_error_of_a_rate(cohort):
    p, good = cohort
    figure = quality.realized(p, good, threshold=THRESHOLD, resamples=2000, seed=0)["approval_rate"]
    rate = figure["value"]
    se = np.sqrt(rate * (1 - rate) / len(p))
    assert figure["high"] - figure["low"] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_a_cohort_of_one_class_has_no_auc_but_keeps_the_rates():
    p = np.array([0.9, 0.8, 0.3])
    figures = quality.realized(p, np.ones(3, dtype=int), threshold=THRESHOLD, resamples=50)
    assert figures["auc"] == {"value": None, "low": None, "high": None}
    assert figures["ks"]["value"] is None
    assert figures["approval_rate"]["value"] == pytest.approx(2 / 3, abs=1e-6)


@pytest.mark.parametrize(
    ("p", "good", "message"),
    [
        ([0.5, 1.2], [1, 0], "probabilities"),
        ([0.5, 0.4], [1, 2], "1 \\(good\\) or 0"),
        ([0.5, 0.4], [1], "one outcome per row"),
    ],
)
def test_bad_inputs_are_refused_precisely(p, good, message):
    with pytest.raises(ValueError, match=message):
        quality.point(p, good, threshold=THRESHOLD)


def test_validation_figures_in_the_metadata_are_the_holdout_figures(model):
    validation = model.metadata["metrics"]["validation"]
    assert set(validation) == set(quality.METRICS)
    assert validation["auc"]["value"] == pytest.approx(model.metadata["metrics"]["holdout"]["roc_auc"], abs=1e-6)
    cost = model.metadata["metrics"]["holdout"]["expected_cost_at_threshold"]
    assert validation["expected_cost"]["value"] == pytest.approx(cost, abs=1e-6)
    for name, figure in validation.items():
        assert figure["low"] <= figure["value"] <= figure["high"], name
    assert model.metadata["metrics"]["validation_method"]["resamples"] == 1000
    assert json.loads((ARTIFACTS_DIR / "metadata.json").read_text())["metrics"]["validation"] == validation


def test_the_model_layer_needs_only_numpy_to_estimate_quality():
    code = (
        "import sys; import creditwatch_model.quality, creditwatch_model.calibration, creditwatch_model.estimate; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
