import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditwatch.training import load_data, perturbed_rows, train
from creditwatch_model import ARTIFACTS_DIR, EXPLAIN_FILE, PIPELINE_FILE, REFERENCE_CONTRIBUTIONS_FILE

shap = pytest.importorskip("shap")


@pytest.fixture(scope="module")
def pipeline():
    import joblib

    return joblib.load(ARTIFACTS_DIR / PIPELINE_FILE)


@pytest.fixture(scope="module")
def shap_reference(model, pipeline):
    """shap's own TreeExplainer (C++) on the joblib forest, summed back to the 19 features."""
    forest = pipeline.named_steps["classifier"]
    good = list(forest.classes_).index(1)
    explainer = shap.TreeExplainer(forest)
    column_feature = model.column_feature

    def explain(frame: pd.DataFrame) -> tuple[float, np.ndarray]:
        encoded = pipeline.named_steps["encoder"].transform(frame)
        values = explainer.shap_values(encoded, check_additivity=False)[:, :, good]
        per_feature = np.zeros((len(frame), len(model.schema.names)))
        np.add.at(per_feature.T, column_feature, values.T)
        return float(np.asarray(explainer.expected_value)[good]), per_feature

    return explain


@pytest.fixture(scope="module")
def data_rows(model):
    return load_data()[model.schema.names]


@pytest.fixture(scope="module")
def perturbed(model):
    return perturbed_rows(model, 10_000, seed=7)


def test_contributions_match_shap_tree_explainer_on_every_data_row(model, shap_reference, data_rows):
    base, ours = model.explain(data_rows.to_dict("records"))
    their_base, theirs = shap_reference(data_rows)
    assert ours.shape == (1000, 19)
    assert abs(base - their_base) <= 1e-12
    assert np.max(np.abs(ours - theirs)) <= 1e-9


def test_contributions_match_shap_tree_explainer_on_10000_perturbed_rows(model, shap_reference, perturbed):
    _, ours = model.explain(perturbed.to_dict("records"))
    _, theirs = shap_reference(perturbed)
    assert np.max(np.abs(ours - theirs), axis=0).max() <= 1e-9


def test_base_value_plus_contributions_is_the_probability_of_every_row(model, data_rows, perturbed):
    for frame in (data_rows, perturbed):
        rows = frame.to_dict("records")
        base, phi = model.explain(rows)
        assert np.max(np.abs(base + phi.sum(axis=1) - model.predict_good(rows))) <= 1e-9


def test_one_row_and_a_batch_explain_alike(model, perturbed):
    rows = perturbed.iloc[:100].to_dict("records")
    _, batch = model.explain(rows)
    one_by_one = np.vstack([model.explain([r])[1] for r in rows])
    assert np.array_equal(batch, one_by_one)


def test_explain_artifacts_are_deterministic_and_committed(tmp_path: Path):
    train(tmp_path / "a", trained_at="2026-01-01T00:00:00Z")
    train(tmp_path / "b", trained_at="2026-01-01T00:00:00Z")
    for name in (EXPLAIN_FILE, REFERENCE_CONTRIBUTIONS_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() == (ARTIFACTS_DIR / name).read_bytes(), name
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert meta["explanation"]["artifact"] == EXPLAIN_FILE


def test_reference_contributions_add_up_to_the_reference_probabilities(model):
    ref = pd.read_csv(ARTIFACTS_DIR / "reference.csv")
    contributions = pd.read_csv(ARTIFACTS_DIR / REFERENCE_CONTRIBUTIONS_FILE, keep_default_na=False)
    assert len(contributions) == len(ref) == 700
    columns = [f"shap_{name}" for name in model.schema.names]
    assert list(contributions.columns) == [*columns, "first_reason"]
    base = model.metadata["explanation"]["base_value"]
    total = base + contributions[columns].sum(axis=1)
    assert np.max(np.abs(total - ref["probability_good_credit"])) <= 1e-8
    assert set(contributions["first_reason"]) <= {*model.schema.names, ""}
