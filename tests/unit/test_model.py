import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from artifacts import assert_same_artifact

from creditwatch_analytics.training import (
    DATA_CSV,
    NOMINAL,
    NUMERICAL,
    ORDINAL,
    content_version,
    load_data,
    perturbed_rows,
    train,
)
from creditwatch_model import ARTIFACTS_DIR, PIPELINE_FILE, confidence_level, risk_level
from creditwatch_model.canonical import canonical_json


@pytest.fixture(scope="module")
def pipeline():
    import joblib

    return joblib.load(ARTIFACTS_DIR / PIPELINE_FILE)


def test_serving_path_matches_the_joblib_pipeline_on_every_data_row(model, pipeline):
    x = load_data()[model.schema.names]
    ours = model.predict_good(x.to_dict("records"))
    theirs = pipeline.predict_proba(x)[:, 1]
    assert np.max(np.abs(ours - theirs)) < 1e-6
    assert np.array_equal(ours >= model.threshold, theirs >= model.threshold)


def test_serving_path_matches_the_joblib_pipeline_on_10000_perturbed_rows(model, pipeline):
    x = perturbed_rows(model, 10_000, seed=7)
    ours = model.predict_good(x.to_dict("records"))
    theirs = pipeline.predict_proba(x)[:, 1]
    assert np.max(np.abs(ours - theirs)) < 1e-6
    assert np.array_equal(ours >= model.threshold, theirs >= model.threshold)


def test_one_row_at_a_time_and_a_batch_encode_and_score_alike(model):
    # encode() switches from a row loop to a column-wise fill for larger inputs; a forest scores
    # in blocks of rows: both splits must be invisible.
    rows = perturbed_rows(model, 600, seed=3).to_dict("records")
    one_by_one = np.vstack([model.encode([r]) for r in rows])
    assert np.array_equal(model.encode(rows), one_by_one)
    assert np.array_equal(model.predict_good(rows), np.concatenate([model.predict_good([r]) for r in rows]))


def test_a_float32_value_falls_on_the_side_of_a_split_its_float64_threshold_puts_it():
    from creditwatch_model.forest import float32_at_or_below

    rng = np.random.default_rng(11)
    thresholds = np.concatenate(
        [rng.normal(size=5000) * 10.0 ** rng.integers(-5, 6, 5000), [0.5, 1.5, -2.0, 0.0, 1e39, -1e39, 1e-46]]
    )
    below = float32_at_or_below(thresholds)
    nearest = thresholds.astype(np.float32)
    # Values at, just under and just over each threshold's nearest float32, and the float32 found.
    for v in (nearest, np.nextafter(nearest, np.float32(-np.inf)), np.nextafter(nearest, np.float32(np.inf)), below):
        assert np.array_equal(v.astype(np.float64) > thresholds, v > below)
    assert below.dtype == np.float32 and np.all(below.astype(np.float64) <= thresholds)


def test_metadata_describes_the_seed_contract(model):
    meta = model.metadata
    names = [f.name for f in model.schema.features]
    assert len(names) == 19 and "present_residence_since" not in names
    assert [f.name for f in model.schema.by_kind("numerical")] == [n for n, *_ in NUMERICAL]
    assert [f.name for f in model.schema.by_kind("ordinal")] == [n for n, _ in ORDINAL]
    assert [f.name for f in model.schema.by_kind("nominal")] == [n for n, _ in NOMINAL]
    assert model.schema.features[0].alias == "Duration in month"
    status = next(f for f in model.schema.features if f.name == "status_of_existing_checking_account")
    assert list(status.codes) == ["A11", "A12", "A13", "A14"]
    assert meta["metrics"]["holdout"]["roc_auc"] >= 0.75
    assert meta["hyperparameters"] == {
        "n_estimators": 100,
        "max_depth": 10,
        "min_samples_split": 20,
        "min_samples_leaf": 10,
        "random_state": 42,
    }
    assert 0 < meta["decision"]["threshold"] < 1
    assert meta["risk_bands"] == {"low": 0.7, "medium": 0.4}
    cm = meta["metrics"]["holdout"]["at_threshold"]["confusion_matrix"]["matrix"]
    assert sum(map(sum, cm)) == 300


@pytest.fixture(scope="module")
def retrained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """Two training runs with the committed trained_at, so that every byte of metadata.json can be compared."""
    trained_at = json.loads((ARTIFACTS_DIR / "metadata.json").read_text())["trained_at"]
    first = tmp_path_factory.mktemp("first")
    second = tmp_path_factory.mktemp("second")
    result = train(first, trained_at=trained_at)
    train(second, trained_at=trained_at)
    return first, second, result.metadata


ARTIFACTS = (
    "forest.npz",
    "explain.npz",
    "pipeline.joblib",
    "reference.csv",
    "reference_contributions.csv",
    "metadata.json",
    "psi_bins.json",
    "calibration.json",
    "replay.json",
    "novelty.npz",
)


def test_training_twice_on_one_machine_writes_the_same_bytes(retrained):
    first, second, _ = retrained
    for name in ARTIFACTS:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_regenerated_json_artifacts_are_byte_identical_to_the_committed_ones(retrained):
    first, _, _ = retrained
    for name in ("metadata.json", "psi_bins.json", "calibration.json", "replay.json"):
        assert_same_artifact(first / name, ARTIFACTS_DIR / name)


def test_regenerated_arrays_and_tables_match_the_committed_ones_within_what_another_cpu_can_change(retrained):
    first, _, _ = retrained
    for name in ("forest.npz", "explain.npz", "novelty.npz", "reference.csv", "reference_contributions.csv"):
        assert_same_artifact(first / name, ARTIFACTS_DIR / name)


def test_regenerated_model_has_the_committed_version(retrained, model):
    assert retrained[2]["version"] == model.version


def test_every_float_in_the_json_artifacts_has_at_most_12_significant_digits():
    def floats(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, dict | list):
            for v in value.values() if isinstance(value, dict) else value:
                yield from floats(v)

    for name in ("metadata.json", "psi_bins.json", "calibration.json"):
        values = list(floats(json.loads((ARTIFACTS_DIR / name).read_text())))
        assert values, name
        assert all(float(f"{v:.12g}") == v for v in values), name


def test_floats_a_last_bit_apart_are_written_alike():
    # The calibration slope on the authoring machine and on an AMD EPYC CI runner.
    here, there = -1.8491562217539435, -1.8491562217539432
    assert canonical_json({"slope": here}) == canonical_json({"slope": np.float64(there)})
    assert canonical_json({"slope": here}) != canonical_json({"slope": here * (1 + 1e-9)})


def test_the_version_does_not_see_a_last_bit_difference_in_the_forest(model):
    nudged = dataclasses.replace(model.forest, value=model.forest.value * (1 + np.finfo(float).eps))
    assert not np.array_equal(nudged.value, model.forest.value, equal_nan=True)
    assert content_version(nudged, model.schema, model.threshold) == model.version
    moved = dataclasses.replace(model.forest, threshold=model.forest.threshold + 1.0)
    assert content_version(moved, model.schema, model.threshold) != model.version


def test_reference_sample_is_the_training_split_with_outputs(model):
    ref = pd.read_csv(ARTIFACTS_DIR / "reference.csv")
    assert len(ref) == 700
    assert set(model.schema.names) <= set(ref.columns)
    assert {"probability_good_credit", "decision", "credit_risk"} <= set(ref.columns)
    assert DATA_CSV.exists()


@pytest.mark.parametrize(
    ("p", "risk", "confidence"),
    [
        (0.7, "LOW", "MEDIUM"),
        (0.6999, "MEDIUM", "MEDIUM"),
        (0.4, "MEDIUM", "LOW"),
        (0.3999, "HIGH", "MEDIUM"),
        (0.95, "LOW", "HIGH"),
        (0.05, "HIGH", "HIGH"),
        (0.5, "MEDIUM", "LOW"),
    ],
)
def test_risk_and_confidence_bands(p, risk, confidence):
    assert risk_level(p, {"low": 0.7, "medium": 0.4}) == risk
    assert confidence_level(p) == confidence


def test_score_is_consistent(model):
    row = load_data()[model.schema.names].iloc[0].to_dict()
    (s,) = model.score([row])
    assert s.probability_good_credit + s.probability_bad_credit == pytest.approx(1.0)
    assert (s.decision == "approve") == (s.prediction == 1) == (s.probability_good_credit >= model.threshold)
