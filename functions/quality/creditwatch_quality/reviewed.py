"""The decisions reviewers took in a cohort: how many, against the model how often, and how those loans turned out."""

from __future__ import annotations

import numpy as np

from creditwatch_analytics.reviewed import BadRate, ReviewedDecisions
from creditwatch_quality.cohort import Cohort
from creditwatch_quality.fairness import jeffreys


def bad_rate(outcome: np.ndarray) -> BadRate:
    """The bad rate of labelled rows' outcomes (1 good, 0 bad), with its Jeffreys interval."""
    rows, bads = len(outcome), int((outcome == 0).sum())
    if not rows:
        return BadRate(rows=0, bads=0, value=None)
    low, high = jeffreys(bads, rows)
    return BadRate(rows=rows, bads=bads, value=bads / rows, low=low, high=high)


def reviewed_decisions(cohort: Cohort) -> ReviewedDecisions:
    """The cohort's reviewed decisions (counted whole) and, on its labelled rows, overridden approvals' bad rate.

    Beside the bad rate of the loans a reviewer approved against the model stands that of the loans the
    model approved and nobody refused: the same booked-loan population, split by who decided.
    """
    totals = cohort.totals
    model, final, reviewed = cohort.model_decisions, cohort.approved, cohort.reviewed_mask
    labelled = cohort.labelled_mask
    against = reviewed & final & ~model
    return ReviewedDecisions(
        rows=totals.rows,
        reviewed_rows=totals.reviewed_rows,
        overridden_rows=totals.overridden_rows,
        approved_against_model=int(against.sum()),
        refused_against_model=int((reviewed & ~final & model).sum()),
        overridden_approvals=bad_rate(cohort.outcome[labelled & against]),
        model_approvals=bad_rate(cohort.outcome[labelled & model & final]),
    )
