"""Population stability (PSI) on bins frozen from the reference: the formula, the floor, the bands and the artifact."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from creditwatch_drift.service import load_reference
from creditwatch_drift.stability import band, column_stability, load_stability_bins, psi, stability
from creditwatch_model import ARTIFACTS_DIR, load_model
from creditwatch_model.bins import OTHER, PSI_BINS_FILE, FrozenBins, build_bins
from creditwatch_model.canonical import canonical


def test_psi_of_a_hand_computed_two_bin_shift():
    # 50/50 to 25/75: (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5
    assert psi([0.5, 0.5], [0.25, 0.75], 1e-4) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.5, 0.5], [0.25, 0.75], 1e-4) == pytest.approx(0.274653, abs=1e-6)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 1e-4) == 0.0


def test_psi_of_a_published_three_bin_example():
    """GeeksforGeeks, "Population Stability Index (PSI)" (data science, last updated 13 Aug 2025,
    https://www.geeksforgeeks.org/data-science/population-stability-index-psi/): income bins low,
    medium, high, expected 0.40/0.30/0.30 (2020) and observed 0.35/0.25/0.40 (2021), with the formula
    sum((observed - expected) ln(observed / expected)). Per bin 0.00668 + 0.00912 + 0.02877 = 0.0446,
    stable (< 0.1). The copy read for this test showed the inputs and the formula, not the printed total.
    """
    value = psi([0.4, 0.3, 0.3], [0.35, 0.25, 0.4], 1e-4)
    assert value == pytest.approx(0.0446, abs=5e-5) and band(value) == "stable"


def test_an_empty_bin_counts_as_the_floor_not_as_infinity():
    # expected 0 in the third bin: (0.1 - 1e-4) ln(0.1 / 1e-4) instead of an infinite term
    value = psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1], 1e-4)
    assert value == pytest.approx(-0.1 * math.log(0.8) + (0.1 - 1e-4) * math.log(1000))
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0], 1e-4))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "moderate"), (0.25, "moderate"), (0.2501, "significant")],
)
def test_bands_are_the_industrys(value, expected):
    assert band(value) == expected


def test_numeric_bins_are_right_closed_and_codes_have_a_bin_for_unknown_ones():
    numeric = FrozenBins("x", "numerical", edges=(1.0, 2.0), reference=(0.5, 0.25, 0.25))
    assert list(numeric.counts(pd.Series([0.5, 1.0, 1.5, 2.0, 3.0, None]))) == [2, 2, 1]
    assert numeric.labels() == ["(-inf, 1]", "(1, 2]", "(2, inf]"]
    codes = FrozenBins("c", "categorical", codes=("A", "B"), reference=(0.5, 0.5, 0.0))
    assert list(codes.counts(pd.Series(["A", "B", "B", "Z"]))) == [1, 2, 1]
    assert codes.labels()[-1] == OTHER


def test_the_reference_counted_into_its_own_shipped_bins_is_perfectly_stable():
    model = load_model()
    reference = load_reference(model)
    bins = load_stability_bins()
    assert bins is not None and bins.model_version == model.version
    result = stability(reference, bins, model, float((reference["decision"] == "approve").mean()))
    assert result.score.psi == pytest.approx(0.0, abs=1e-8) and result.score.band == "stable"
    assert result.decision.psi == pytest.approx(0.0, abs=1e-8)
    assert {f.name for f in result.features} == set(model.schema.names)
    assert all(f.psi == pytest.approx(0.0, abs=1e-8) for f in result.features)
    # Deciles of P(good): a tenth of the reference in each bin.
    assert bins.score.reference == pytest.approx([0.1] * 10, abs=0.002)


def test_the_shipped_bins_are_what_training_builds_from_the_shipped_reference():
    model = load_model()
    rebuilt = build_bins(load_reference(model), model.schema)
    shipped = json.loads((ARTIFACTS_DIR / PSI_BINS_FILE).read_text())
    # psi_bins.json holds canonical floats (12 significant digits): compare what was written, on any CPU.
    assert shipped["score"] == canonical(rebuilt.score.to_dict())
    assert shipped["features"] == canonical({n: b.to_dict() for n, b in rebuilt.features.items()})


def test_a_shifted_score_is_significant_and_missing_values_are_said_so():
    bins = load_stability_bins()
    assert bins is not None
    low = pd.Series(np.linspace(0.0, 0.45, 200))  # everything below the first reference decile
    shifted = column_stability(bins.score, low, bins.floor, "score")
    assert shifted.band == "significant" and shifted.psi > 1
    empty = column_stability(bins.score, pd.Series([None, None], dtype=float), bins.floor, "score")
    assert empty.psi is None and empty.note == "no values in the window"
