"""Payloads of the retrain function: its event and its result (the version registered and its card's summary)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from creditwatch_analytics.jobs import DaysWindowEvent
from creditwatch_common.model_card import Figure, ModelCard


class RetrainEvent(DaysWindowEvent):
    """Which predictions' matured outcomes to train on, and why. Without a window: the last days, to this hour's end."""

    # An on-demand run's event: a key it does not know is a mistake, refused rather than ignored.
    model_config = ConfigDict(extra="forbid")

    # The card's `why` and the alias move's reason (default: says the window).
    reason: str | None = Field(None, min_length=1, max_length=500)
    # Who asked (an operator, the quality note's reader): the card's created_by names them beside the function.
    requested_by: str | None = Field(None, min_length=1, max_length=200)


class HoldoutSummary(BaseModel):
    """One holdout of the card: its rows, AUC and expected cost with their intervals, or why there are none."""

    rows: int
    auc: Figure | None = None
    expected_cost: Figure | None = None
    note: str | None = None


class CardSummary(BaseModel):
    """What the registered card says, in short (`creditwatch model show <version>` gives all of it)."""

    version: str
    parent_version: str | None
    created_by: str
    why: str
    fingerprint: str
    rows_by_source: dict[str, int]
    weights_by_decision: dict[str, float]
    validation: dict[str, HoldoutSummary]
    # How many predictions' outcomes were trained on and held out (the card lists their ids).
    prediction_ids: int
    holdout_prediction_ids: int

    @classmethod
    def of(cls, card: ModelCard) -> CardSummary:
        """The summary of a card."""
        return cls(
            version=card.version,
            parent_version=card.parent_version,
            created_by=card.created_by,
            why=card.why,
            fingerprint=card.training.fingerprint,
            rows_by_source=dict(card.training.rows_by_source),
            weights_by_decision=dict(card.training.weights_by_decision),
            validation={
                name: HoldoutSummary(
                    rows=h.rows, auc=h.figures.get("auc"), expected_cost=h.figures.get("expected_cost"), note=h.note
                )
                for name, h in card.validation.items()
            },
            prediction_ids=len(card.prediction_ids),
            holdout_prediction_ids=len(card.holdout_prediction_ids),
        )


class RetrainResult(BaseModel):
    """A run's answer: the challenger registered (or already registered), or why none was."""

    kind: Literal["retrain"] = "retrain"
    # registered: `challenger` names the version; refused: nothing registered, by the rules (no matured outcome,
    # equal to the champion); error: the window or the registry could not be read or written (the run raises).
    status: Literal["registered", "refused", "error"] = "registered"
    error: str | None = None
    message: str = ""
    window_start: str
    window_end: str
    engine: str | None = None
    # Scored predictions of the window, and of them those with a matured outcome.
    rows_read: int = 0
    labelled_rows: int = 0
    champion_version: str | None = None
    version: str | None = None
    # False: the same inputs gave a version registered before (same inputs, same version).
    new: bool | None = None
    # Whether `challenger` moved to the version (False: it named it already).
    moved: bool | None = None
    card: CardSummary | None = None
