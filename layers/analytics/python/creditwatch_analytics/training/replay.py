"""The frozen replay set of a trained model: its holdout applications and the answers it gives them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from creditwatch_common.replay import REPLAY_FILE, ReplayAnswer, ReplaySet, canonical_probability, dump_replay
from creditwatch_model import CreditModel

SOURCE = "data/german_credit.csv holdout: the 300 rows of the stratified 70/30 split (random_state 42), in split order"


def build_replay(model: CreditModel, holdout: pd.DataFrame) -> ReplaySet:
    """The holdout's applications as the API takes them (snake_case, plain values) and the model's answers."""
    applications = [
        {name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()}
        for row in holdout[model.schema.names].to_dict("records")
    ]
    scores = model.score(applications)
    answers = [
        ReplayAnswer(probability_good_credit=canonical_probability(s.probability_good_credit), decision=s.decision)
        for s in scores
    ]
    return ReplaySet(
        model_version=model.version,
        source=SOURCE,
        feature_names=list(model.schema.names),
        applications=applications,
        answers=answers,
    )


def write_replay(model: CreditModel, holdout: pd.DataFrame, out_dir: Path) -> ReplaySet:
    """Build the replay set and write it as `replay.json` in `out_dir`."""
    replay = build_replay(model, holdout)
    dump_replay(replay, out_dir / REPLAY_FILE)
    return replay
