"""The novelty score shipped with the model: a distance from the training data, and the bound fitted at training."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from creditwatch_common.ids import uuid7
from creditwatch_model import REFERENCE_FILE, model_dir
from creditwatch_model.novelty import NOVELTY_FILE, Novelty
from creditwatch_predict.referral import ReferralRules, TrainingRanges


@pytest.fixture(scope="module")
def training(model: Any) -> pd.DataFrame:
    categorical = {f.name: str for f in model.schema.features if f.is_categorical}
    return pd.read_csv(model_dir() / REFERENCE_FILE, dtype=categorical)[model.schema.names]


@pytest.fixture(scope="module")
def novelty(model: Any) -> Novelty:
    return Novelty.load(model_dir() / NOVELTY_FILE, model.schema)


def unusual_in_range(model: Any, training: pd.DataFrame) -> dict[str, Any]:
    """A training applicant with every number at the training maximum: each value seen, never all together."""
    row = training.iloc[0].to_dict()
    for f in model.schema.features:
        if not f.is_categorical:
            row[f.name] = training[f.name].max().item()
    return row


def test_the_shipped_bound_leaves_the_share_metadata_states_of_the_holdout_above_it(model, novelty):
    replay = json.loads((model_dir() / "replay.json").read_text())
    # The replay set is the holdout: rows the fit never saw, which the bound was set on.
    share = float((novelty.scores(replay["applications"]) > novelty.bound).mean())
    stated = model.metadata["novelty"]
    assert share == stated["holdout_share_above"] and 0.005 <= share <= 0.02
    assert stated["bound"] == round(novelty.bound, 6)


def test_training_rows_score_below_the_bound_and_an_unusual_combination_of_seen_values_above(model, novelty, training):
    scores = novelty.scores(training.to_dict("records"))
    assert np.mean(scores > novelty.bound) < 0.01
    row = unusual_in_range(model, training)
    ranges = TrainingRanges.from_reference(model, model_dir() / REFERENCE_FILE)
    assert ranges.outside(row) == [] and novelty.scores([row])[0] > novelty.bound


def test_review_novelty_refers_above_the_bound_times_its_value_and_zero_turns_it_off(model, training, novelty):
    row = unusual_in_range(model, training)
    ordinary = training.iloc[1].to_dict()
    score = float(novelty.scores([row])[0])
    p = 0.99  # far from the threshold: the band cannot refer
    on = ReferralRules.for_model(model, band=0.0, out_of_range=False, audit_share=0.0, novelty=1.0)
    assert on.active and on.rules(row, p, uuid7()) == ["novelty"]
    assert on.rules(ordinary, p, uuid7()) == []
    # Above its score, the scaled bound refers it no more; at 0, the rule is off and nothing is loaded.
    higher = ReferralRules.for_model(model, 0.0, False, 0.0, novelty=score / novelty.bound + 0.01)
    assert higher.rules(row, p, uuid7()) == []
    off = ReferralRules.for_model(model, 0.0, False, 0.0, novelty=0.0)
    assert not off.active and off.novelty is None


def test_an_applications_distance_is_the_same_alone_and_in_a_batch(novelty, training):
    rows = training.to_dict("records")
    assert novelty.scores(rows).tolist() == [novelty.scores([r])[0] for r in rows]


def test_a_batch_is_referred_by_the_rules_that_refer_each_of_its_applications_alone(model, training, novelty):
    # Every rule on and each one referring some: near the threshold, out of range, unusual, audited.
    rows = training.iloc[:200].to_dict("records")
    rows[3] = unusual_in_range(model, training)
    rows[5] = {**rows[5], "age_in_years": int(training["age_in_years"].max()) + 1}
    p = [model.threshold + (i % 9 - 4) * 0.01 for i in range(len(rows))]
    rules = ReferralRules.for_model(model, band=0.02, out_of_range=True, audit_share=0.1, novelty=1.0)
    batch = rules.referred(rows, p)
    assert batch == [rules.rules(r, q, uuid7()) for r, q in zip(rows, p, strict=True)]
    assert {rule for referred in batch for rule in referred} == {"band", "out_of_range", "novelty", "audit"}
