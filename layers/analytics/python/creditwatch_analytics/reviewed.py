"""Decisions a person took (referred cases a reviewer decided), as the quality summary reports them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BadRate(BaseModel):
    """The bad rate of some labelled rows, with its Jeffreys 95% interval (None without a row)."""

    rows: int = Field(description="Labelled rows")
    bads: int
    value: float | None
    low: float | None = None
    high: float | None = None


class ReviewedDecisions(BaseModel):
    """How many of a cohort's decisions were a reviewer's, and how the overridden ones turned out.

    The figures, calibration, decisions and fairness use the final decision where a reviewer took one
    (the model's elsewhere); `overridden_approvals` are loans a reviewer approved that the model refused,
    `model_approvals` the ones the model approved and nobody reversed: their bad rates side by side say
    whether people approve against the model at a cost.
    """

    rows: int = Field(description="Scored predictions of the cohort")
    reviewed_rows: int = Field(description="Of them, decided by a reviewer (the final decision is a person's)")
    overridden_rows: int = Field(description="Of the reviewed, decided against the model")
    # Over the figures' rows (the sample's, when the cohort is sampled).
    approved_against_model: int = Field(description="Model refused, reviewer approved")
    refused_against_model: int = Field(description="Model approved, reviewer refused")
    overridden_approvals: BadRate | None = None
    model_approvals: BadRate | None = None
