"""A challenger: the original training data plus the predictions whose outcomes matured, through `train`.

Selection: outcomes exist only where the lender booked (or, with bureau data, observed) the applicant, and
whether it did follows the model's own decision, which the log keeps for every scored prediction. So:
- the original 700 training rows stay, weight 1: every applicant labelled, the only view of those refused;
- each matured row weighs 1 / (share of its decision's scored predictions in the window that have an outcome):
  inverse probability weighting on the logged decision, the selection mechanism itself;
- a decision without any outcome (refusals, when only booked loans are observed) adds no rows: where the
  model refuses it stays what the original data taught it (no reject inference is attempted);
- the latest RECENT_SHARE of matured rows (by prediction time) are held out: their figures, on the booked
  population they come from, stand beside the original holdout's on the card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from creditwatch_analytics.training import card as cards
from creditwatch_analytics.training.data import NUMERICAL, build_schema, read_codes
from creditwatch_analytics.training.run import ExtraRows, TrainingResult, train
from creditwatch_common.model_card import ModelCard, TrainingData
from creditwatch_model import load_model

# The latest share of matured rows held out of training, as the recent labelled holdout.
RECENT_SHARE = 0.2
SELECTION = (
    "original 700 training rows kept at weight 1 (every applicant labelled: the only view of refused applicants); "
    "each matured outcome weighted by 1 / (share of its decision's scored predictions with an outcome, among those "
    "no younger than the youngest with one), inverse probability weighting on the logged decision; a decision "
    "without outcomes adds no rows (no reject inference: where the model refuses, the original data decides); "
    f"the latest {RECENT_SHARE:.0%} of matured outcomes held out as the recent labelled holdout"
)


@dataclass(frozen=True)
class Matured:
    """A window's scored predictions with the outcome each has (if any): features as logged, latest outcome."""

    frame: pd.DataFrame  # prediction_id, ts, decision, good (1/0, NaN without outcome), then the features
    start: datetime
    end: datetime
    engine: str = ""  # which engine read it (creditwatch_analytics.lake.window.engine_for)

    @property
    def labelled(self) -> pd.DataFrame:
        """The rows with an outcome, oldest first (ties by id)."""
        rows = self.frame[self.frame["good"].notna()]
        return rows.sort_values(["ts", "prediction_id"], kind="mergesort").reset_index(drop=True)

    def weights_by_decision(self) -> dict[str, float]:
        """1 / share of each decision's scored predictions that have an outcome (decisions with none left out).

        Predictions younger than the youngest with an outcome have not matured yet: not counted as unobserved.
        """
        labelled_rows = self.frame[self.frame["good"].notna()]
        if labelled_rows.empty:
            return {}
        scored = self.frame[self.frame["ts"] <= labelled_rows["ts"].max()].groupby("decision").size()
        labelled = labelled_rows.groupby("decision").size()
        return {str(d): round(float(scored[d] / labelled[d]), 12) for d in labelled.index if labelled[d] > 0}


def matured_from_table(table: Any, start: datetime, end: datetime, engine: str = "") -> Matured:
    """A labelled frame's table (creditwatch_analytics.lake.labelled) as rows typed as the trainer reads them."""
    frame = table.to_pandas()
    schema = build_schema(read_codes())
    frame = frame.dropna(subset=[n for n in schema.names if n in frame.columns])
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise ValueError(f"the labelled rows lack features {missing}")
    for name, _, dtype, _ in NUMERICAL:
        frame[name] = frame[name].astype(float if dtype == "float" else int)
    for f in schema.features:
        if f.is_categorical:
            frame[f.name] = frame[f.name].astype(str)
    good = frame["outcome"].map({"good": 1.0, "bad": 0.0})
    frame = frame.assign(good=good, ts=pd.to_datetime(frame["ts"], utc=True))
    columns = ["prediction_id", "ts", "decision", "good", *schema.names]
    return Matured(frame[columns].reset_index(drop=True), start, end, engine)


@dataclass(frozen=True)
class Challenger:
    """A trained challenger: its training run and its card (artifact hashes are added when registered)."""

    result: TrainingResult
    card: ModelCard

    @property
    def version(self) -> str:
        """The content hash of what decides an answer (forest, schema, threshold)."""
        return str(self.result.metadata["version"])


def train_challenger(
    matured: Matured,
    out_dir: Path,
    *,
    created_by: str,
    why: str,
    parent_version: str | None,
    now: datetime | None = None,
) -> Challenger:
    """Fit on the original training split plus the matured outcomes (weighted), hold out the latest, write the card."""
    labelled = matured.labelled
    n_recent = math.ceil(len(labelled) * RECENT_SHARE) if len(labelled) else 0
    fit_rows, recent = labelled.iloc[: len(labelled) - n_recent], labelled.iloc[len(labelled) - n_recent :]
    weights = matured.weights_by_decision()
    schema = build_schema(read_codes())
    extra = ExtraRows(
        features=fit_rows[schema.names].reset_index(drop=True),
        target=fit_rows["good"].to_numpy(dtype=int),
        weights=fit_rows["decision"].map(weights).to_numpy(dtype=float),
        about={
            "window": [_iso(matured.start), _iso(matured.end)],
            "weights_by_decision": weights,
            "selection": SELECTION,
            "recent_holdout_rows": int(n_recent),
        },
    )
    # Same inputs, same bytes: the training instant is the window's end, not the clock.
    result = train(out_dir, trained_at=_iso(matured.end), extra=extra)
    model = load_model(str(out_dir))
    x_original, y_original = cards.original_holdout_rows()
    recent_good = recent["good"].to_numpy(dtype=int)
    card = ModelCard(
        version=result.metadata["version"],
        name=result.metadata["name"],
        created_by=created_by,
        created_at=now or datetime.now(UTC),
        why=why,
        parent_version=parent_version,
        training=TrainingData(
            fingerprint=result.fingerprint,
            rows_by_source={"original": result.rows_by_source["original"], "matured_outcomes": len(fit_rows)},
            window_start=matured.start,
            window_end=matured.end,
            selection=SELECTION,
            weights_by_decision=weights,
        ),
        parameters=cards.parameters(result.metadata),
        validation={
            "original": cards.original_holdout(result.metadata, len(y_original)),
            "recent": cards.holdout(recent, recent_good, model, cards.RECENT_POPULATION),
        },
        fairness=[*cards.fairness("original", x_original, model), *cards.fairness("recent", recent, model)],
        prediction_ids=sorted(fit_rows["prediction_id"].astype(str)),
        holdout_prediction_ids=sorted(recent["prediction_id"].astype(str)),
    )
    return Challenger(result, card)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
