"""A registered model version's card: what it was trained on, how it did on two holdouts, who made it and why.

Written once beside the version's artifacts (`versions/<version>/card.json`, creditwatch_common.model_registry)
and never changed; the artifacts' sha256s are on it, so a reader checks what it fetched against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# A figure as creditwatch_model.quality.realized gives it: {"value", "low", "high"} (95% bootstrap interval).
Figure = dict[str, float | None]
Source = Literal["original", "matured_outcomes"]


class TrainingData(BaseModel):
    """Which rows the version learned from: their fingerprint, counts by source, window and weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # sha256 of the training rows as fitted (features, label, weight, in order): same rows, same fingerprint.
    fingerprint: str
    rows_by_source: dict[Source, int]
    # Matured outcomes: the predictions made in [window_start, window_end) whose outcome was recorded.
    window_start: datetime | None = None
    window_end: datetime | None = None
    # How the training copes with outcomes known only where the lender booked (or observed) the applicant.
    selection: str = ""
    # Each matured row's weight by the decision it got (1 / share of that decision's predictions with an outcome).
    weights_by_decision: dict[str, float] = Field(default_factory=dict)


class Holdout(BaseModel):
    """A holdout's figures with their intervals, and which population it stands for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(ge=0)
    population: str
    figures: dict[str, Figure] = Field(default_factory=dict)
    # Why there are no figures (too few rows, one class only), when there are none.
    note: str | None = None
    # The same figures on the rows of this holdout the model approves: what its booked loans are judged against
    # (creditwatch_quality.baseline); None on cards written before it was kept.
    approved: Holdout | None = None


class GroupFairness(BaseModel):
    """Disparate impact on a holdout for one protected attribute: lowest group approval rate over the highest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holdout: str
    attribute: str
    approval_rates: dict[str, float]
    rows: dict[str, int]
    disparate_impact: float | None
    low: float | None = None
    high: float | None = None
    note: str | None = None


class ModelCard(BaseModel):
    """A model version: data, parameters, validation on two holdouts, fairness, provenance and artifact hashes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    name: str
    created_by: str
    created_at: datetime
    why: str
    # The champion when this version was trained (None: the first version).
    parent_version: str | None = None
    training: TrainingData
    parameters: dict[str, Any]
    # "original": the UCI holdout (300 rows); "recent": the latest matured outcomes, kept out of training.
    validation: dict[str, Holdout]
    fairness: list[GroupFairness] = Field(default_factory=list)
    # The predictions whose matured outcomes were trained on (ids only, never values): an erased record is
    # gone from the log and the lake, so no training set built after the erasure can hold it.
    prediction_ids: list[str] = Field(default_factory=list)
    # The recent holdout's predictions (evaluated on, never trained on).
    holdout_prediction_ids: list[str] = Field(default_factory=list)
    # artifact file name -> sha256 hex digest of its bytes.
    artifacts: dict[str, str] = Field(default_factory=dict)
