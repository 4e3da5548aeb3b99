import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditwatch.training import DATA_CSV, NOMINAL, NUMERICAL, ORDINAL, load_data, perturbed_rows, train
from creditwatch_model import ARTIFACTS_DIR, PIPELINE_FILE, confidence_level, risk_level


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


def test_training_is_deterministic_and_reproduces_the_committed_artifacts(tmp_path: Path, model):
    first = train(tmp_path / "a", trained_at="2026-01-01T00:00:00Z")
    train(tmp_path / "b", trained_at="2026-01-01T00:00:00Z")
    for name in (
        "forest.npz",
        "pipeline.joblib",
        "reference.csv",
        "metadata.json",
        "psi_bins.json",
        "calibration.json",
    ):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first.metadata["version"] == model.version
    for name in ("forest.npz", "reference.csv", "psi_bins.json", "calibration.json"):
        assert (tmp_path / "a" / name).read_bytes() == (ARTIFACTS_DIR / name).read_bytes(), name
    committed = json.loads((ARTIFACTS_DIR / "metadata.json").read_text())
    fresh = json.loads((tmp_path / "a" / "metadata.json").read_text())
    for meta in (committed, fresh):
        meta.pop("trained_at")
        meta["training"].pop("libraries")
    assert fresh == committed


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
