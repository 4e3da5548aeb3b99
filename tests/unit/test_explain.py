import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from artifacts import assert_same_artifact

from creditwatch_analytics.training import load_data, perturbed_rows, train
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
        # Across CPUs: the same covers, and contributions within a last-bit difference (tests/artifacts.py).
        assert_same_artifact(tmp_path / "a" / name, ARTIFACTS_DIR / name)
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


# ---- reasons ---------------------------------------------------------------------------------------


def test_reasons_are_at_most_four_lowering_features_most_negative_first(model, data_rows):
    rows = data_rows.iloc[:200].to_dict("records")
    _, phi = model.explain(rows)
    features = {f.name: f for f in model.schema.features}
    for row, contributions in zip(rows, phi, strict=True):
        reasons = model.reasons(row, contributions)
        assert len(reasons) == min(4, int(np.sum(contributions < 0)))
        values = [r["contribution"] for r in reasons]
        assert values == sorted(values) and all(v < 0 for v in values)
        if reasons:
            assert reasons[0]["contribution"] == pytest.approx(contributions.min())
        for r in reasons:
            f = features[r["feature"]]
            assert r["label"] == f.alias and r["value"] == row[f.name]
            assert r["contribution"] == contributions[model.schema.names.index(f.name)]
            assert r["meaning"] == (f.codes[row[f.name]] if f.is_categorical else None)


def test_reasons_name_the_checking_account_meaning_from_the_schema(model):
    from creditwatch_model.explain import reasons

    row = load_data()[model.schema.names].iloc[0].to_dict()
    contributions = np.zeros(19)
    contributions[model.schema.names.index("status_of_existing_checking_account")] = -0.2
    contributions[model.schema.names.index("duration_in_month")] = -0.1
    contributions[model.schema.names.index("credit_amount")] = 0.3
    out = reasons(model.schema, {**row, "status_of_existing_checking_account": "A11"}, contributions)
    assert [r["feature"] for r in out] == ["status_of_existing_checking_account", "duration_in_month"]
    assert out[0]["label"] == "Status of existing checking account"
    assert out[0]["meaning"] == "... < 0 DM"
    assert out[1]["meaning"] is None and out[1]["value"] == row["duration_in_month"]


def test_an_approval_gets_the_features_that_held_its_score_down(model, data_rows):
    rows = data_rows.to_dict("records")
    p = model.predict_good(rows)
    approved = [r for r, q in zip(rows, p, strict=True) if q >= model.threshold][:20]
    _, phi = model.explain(approved)
    assert any(model.reasons(r, c) for r, c in zip(approved, phi, strict=True))


# ---- counterfactuals -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused(model, data_rows):
    rows = data_rows.to_dict("records")
    p = model.predict_good(rows)
    return [r for r, q in zip(rows, p, strict=True) if q < model.threshold]


GENEROUS = {"time_budget_ms": 60_000.0}  # the candidate budget binds, never the clock: deterministic


def test_a_counterfactual_really_flips_the_decision_and_touches_no_protected_attribute(model, refused):
    from creditwatch_model.counterfactual import DEFAULT_LEVERS, PROTECTED, counterfactual

    levers = {lever.feature for lever in DEFAULT_LEVERS}
    found = 0
    for row in refused[:40]:
        cf = counterfactual(model, row, **GENEROUS)
        assert cf.status in ("found", "none_found")
        if cf.status != "found":
            assert cf.message.startswith("none found within bounds")
            continue
        found += 1
        (score,) = model.score([cf.row])
        assert score.decision == "approve" and score.probability_good_credit == cf.probability_good_credit
        changed = {name for name in model.schema.names if cf.row[name] != row[name]}
        assert changed == {c.feature for c in cf.changes} and changed <= levers and not changed & PROTECTED
        assert 1 <= len(cf.changes) <= 3
    assert found >= 10


def test_a_counterfactual_is_the_fewest_changes(model, refused):
    from creditwatch_model.counterfactual import counterfactual

    for row in refused[:40]:
        cf = counterfactual(model, row, **GENEROUS)
        if cf.status == "found" and len(cf.changes) > 1:
            fewer = counterfactual(model, row, max_changes=len(cf.changes) - 1, **GENEROUS)
            assert fewer.status == "none_found" and fewer.stopped_by == ""
            return
    pytest.skip("no multi-change counterfactual among the first refusals")


def test_a_counterfactual_is_deterministic(model, refused):
    from creditwatch_model.counterfactual import counterfactual

    for row in refused[:10]:
        assert counterfactual(model, row, **GENEROUS) == counterfactual(model, row, **GENEROUS)


def test_none_found_when_the_bounds_make_approval_impossible(model, refused):
    from creditwatch_model.counterfactual import NumberLever, counterfactual

    row = refused[0]
    nothing = counterfactual(model, row, levers=())
    assert nothing.status == "none_found" and nothing.message == "none found within bounds" and not nothing.changes
    # The amount may only go down, to no less than the amount itself: no move at all.
    amount = (NumberLever("credit_amount", "down", 1.0, 1e6, span=18_174.0, integer=False),)
    stuck = counterfactual(model, row, levers=amount, min_amount_fraction=1.0)
    assert stuck.status == "none_found" and stuck.candidates_scored == 0
    # A row with a counterfactual: the bounds prune a row without one before any candidate is scored.
    has_one = next(r for r in refused if counterfactual(model, r, **GENEROUS).status == "found")
    capped = counterfactual(model, has_one, max_candidates=0)
    assert capped.status == "none_found" and capped.stopped_by == "candidate_budget"


def test_protected_attributes_cannot_be_levers_and_approvals_need_no_change(model, data_rows):
    from creditwatch_model.counterfactual import NumberLever, counterfactual

    rows = data_rows.to_dict("records")
    p = model.predict_good(rows)
    approved = next(r for r, q in zip(rows, p, strict=True) if q >= model.threshold)
    assert counterfactual(model, approved).status == "already_approved"
    refused_row = next(r for r, q in zip(rows, p, strict=True) if q < model.threshold)
    with pytest.raises(ValueError, match="protected"):
        counterfactual(model, refused_row, levers=(NumberLever("age_in_years", "up", 18, 100, span=57.0),))
