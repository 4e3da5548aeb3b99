"""A cohort of scored predictions with their outcomes (any engine's labelled frame), as arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditwatch_analytics.lake.labelled import LabelledFrame
from creditwatch_analytics.summaries import RealizedPopulation
from creditwatch_quality.figures import Labelled

# What outcome fairness needs of the features: the protected attributes' columns only.
PROTECTED_COLUMNS = ("personal_status_and_sex", "age_in_years", "foreign_worker")
# Refused applicants' outcomes (bureau data) count when their label coverage is at least this share of the
# booked loans': then the labelled rows stand for every scored applicant. Fewer (a handful from a bureau pull)
# would be a selected sample of the refused, so the figures stay on booked loans and leave them out.
REFUSED_COVERAGE = 0.5


@dataclass(frozen=True)
class Population:
    """The whole cohort's counts, whether or not the arrays hold all of it."""

    rows: int  # scored predictions
    labelled_rows: int  # of them, with an outcome
    bad_rows: int  # of them, whose (latest) outcome is bad
    reviewed_rows: int = 0  # of them, decided by a reviewer
    overridden_rows: int = 0  # of those, against the model


@dataclass(frozen=True)
class Cohort:
    """The scored predictions of the window (P(good), approved) and the labelled ones' outcomes and groups.

    Every one of them, or, over the source's max_rows, their uniform bottom-k sample on the sample key
    (`population` then counts the whole cohort; `sampled` is true). `approved` is the final decision: a
    reviewer's where one decided the referred case, the model's elsewhere (`model_approved`).
    """

    rows: int
    p_good: np.ndarray
    approved: np.ndarray
    # Outcome per row: 1 good, 0 bad, -1 unknown.
    outcome: np.ndarray
    protected: pd.DataFrame
    # Scored predictions per model version, over the whole cohort.
    model_versions: dict[str, int]
    # The whole cohort's counts; None: the arrays are the whole cohort.
    population: Population | None = field(default=None)
    # The model's own decision, and whether a reviewer decided (None: as `approved`, nobody reviewed).
    model_approved: np.ndarray | None = field(default=None)
    reviewed: np.ndarray | None = field(default=None)

    @property
    def model_decisions(self) -> np.ndarray:
        """Whether the model approved each row (before any reviewer)."""
        return self.approved if self.model_approved is None else self.model_approved

    @property
    def reviewed_mask(self) -> np.ndarray:
        """Rows whose final decision is a reviewer's."""
        return np.zeros(self.rows, dtype=bool) if self.reviewed is None else self.reviewed

    @property
    def sampled(self) -> bool:
        """Whether the arrays are a sample of a larger cohort."""
        return self.population is not None and self.population.rows > self.rows

    @property
    def totals(self) -> Population:
        """The whole cohort's counts (the arrays' own when they hold all of it)."""
        if self.population is not None:
            return self.population
        reviewed = self.reviewed_mask
        overridden = int((reviewed & (self.approved != self.model_decisions)).sum())
        return Population(
            self.rows, self.labelled_rows, int((self.outcome == 0).sum()), int(reviewed.sum()), overridden
        )

    @property
    def labelled_mask(self) -> np.ndarray:
        """Rows with an outcome."""
        return self.outcome >= 0

    @property
    def labelled_rows(self) -> int:
        """How many rows have an outcome."""
        return int(self.labelled_mask.sum())

    def realized_population(self) -> RealizedPopulation:
        """Whose outcomes the figures speak for: booked loans, or every scored applicant (see REFUSED_COVERAGE)."""
        labelled, approved = self.labelled_mask, self.approved
        counts = {
            "approved_rows": int(approved.sum()),
            "approved_labelled": int((labelled & approved).sum()),
            "refused_rows": int((~approved).sum()),
            "refused_labelled": int((labelled & ~approved).sum()),
        }
        booked_coverage = counts["approved_labelled"] / counts["approved_rows"] if counts["approved_rows"] else 0.0
        refused_coverage = counts["refused_labelled"] / counts["refused_rows"] if counts["refused_rows"] else 0.0
        if counts["refused_labelled"] and refused_coverage >= REFUSED_COVERAGE * booked_coverage:
            return RealizedPopulation(name="all_scored", labelled_rows=self.labelled_rows, **counts)
        booked, left_out = counts["approved_labelled"], counts["refused_labelled"]
        return RealizedPopulation(name="booked_loans", labelled_rows=booked, left_out=left_out, **counts)

    def _mask(self, population: RealizedPopulation | None) -> np.ndarray:
        m = self.labelled_mask
        return m & self.approved if population is not None and population.name == "booked_loans" else m

    def labelled(self, population: RealizedPopulation | None = None) -> Labelled:
        """The labelled rows of the population (default: every labelled row) as the figures need them."""
        m = self._mask(population)
        return Labelled(y=self.outcome[m], p=self.p_good[m], approved=self.approved[m])

    def labelled_protected(self, population: RealizedPopulation | None = None) -> pd.DataFrame:
        """The population's labelled rows' protected attributes."""
        return self.protected[self._mask(population)].reset_index(drop=True)


def cohort_of(labelled: LabelledFrame, threshold: float) -> Cohort:
    """Arrays of an engine's labelled frame (WindowSource.labelled), column by column; its totals the whole cohort's."""
    frame = labelled.table.to_pandas()
    p = pd.to_numeric(frame["probability_good_credit"], errors="coerce")
    frame = frame[p.notna()].reset_index(drop=True)
    p = p[p.notna()].to_numpy(dtype=float)
    decision = frame["decision"]
    model_approved = np.where(decision.notna(), decision == "approve", p >= threshold).astype(bool)
    # Where a reviewer decided the case, the loan was booked (or not) on their decision.
    final = frame["final_decision"] if "final_decision" in frame else pd.Series([None] * len(frame), dtype=object)
    reviewed = final.notna().to_numpy(dtype=bool)
    approved = np.where(reviewed, final == "approve", model_approved).astype(bool)
    outcome = frame["outcome"].map({"good": 1, "bad": 0}).fillna(-1).astype(int).to_numpy()
    protected = pd.DataFrame(
        {c: (frame[c] if c in frame else pd.Series([None] * len(frame), dtype=object)) for c in PROTECTED_COLUMNS}
    )
    return Cohort(
        rows=len(p),
        p_good=p,
        approved=approved,
        outcome=outcome,
        protected=protected,
        model_versions=dict(labelled.model_versions),
        population=Population(
            labelled.rows, labelled.labelled_rows, labelled.bad_rows, labelled.reviewed_rows, labelled.overridden_rows
        ),
        model_approved=model_approved,
        reviewed=reviewed,
    )
