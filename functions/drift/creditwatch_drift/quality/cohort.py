"""A cohort of scored predictions read from the log, with the outcomes recorded on them, as arrays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditwatch_common.outcomes import LabelledRow, label_of
from creditwatch_drift.quality.figures import Labelled

# What outcome fairness needs of the features: the protected attributes' columns only.
PROTECTED_COLUMNS = ("personal_status_and_sex", "age_in_years", "foreign_worker")


@dataclass(frozen=True)
class Cohort:
    """Every scored prediction of the window (P(good), approved) and the labelled ones' outcomes and groups."""

    rows: int
    p_good: np.ndarray
    approved: np.ndarray
    # Outcome per row: 1 good, 0 bad, -1 unknown.
    outcome: np.ndarray
    protected: pd.DataFrame
    model_versions: dict[str, int]

    @property
    def labelled_mask(self) -> np.ndarray:
        """Rows with an outcome."""
        return self.outcome >= 0

    @property
    def labelled_rows(self) -> int:
        """How many rows have an outcome."""
        return int(self.labelled_mask.sum())

    def labelled(self) -> Labelled:
        """The labelled rows as the figures need them."""
        m = self.labelled_mask
        return Labelled(y=self.outcome[m], p=self.p_good[m], approved=self.approved[m])

    def labelled_protected(self) -> pd.DataFrame:
        """The labelled rows' protected attributes."""
        return self.protected[self.labelled_mask].reset_index(drop=True)


def cohort_of(rows: Iterable[LabelledRow], threshold: float) -> Cohort:
    """Arrays of the rows streamed from the log (memory holds three numbers and three codes per row)."""
    p: list[float] = []
    approved: list[bool] = []
    outcome: list[int] = []
    protected: dict[str, list[object]] = {c: [] for c in PROTECTED_COLUMNS}
    versions: Counter[str] = Counter()
    for row in rows:
        if row.probability_good_credit is None:
            continue
        prob = float(row.probability_good_credit)
        p.append(prob)
        # The decision the applicant got, as logged; the threshold only when an old item lacks it.
        approved.append(row.decision == "approve" if row.decision else prob >= threshold)
        label = label_of(row.outcome)
        outcome.append(-1 if label is None else label)
        for c in PROTECTED_COLUMNS:
            protected[c].append(row.features.get(c))
        versions[row.model_version] += 1
    return Cohort(
        rows=len(p),
        p_good=np.asarray(p, dtype=float),
        approved=np.asarray(approved, dtype=bool),
        outcome=np.asarray(outcome, dtype=int),
        protected=pd.DataFrame(protected, columns=list(PROTECTED_COLUMNS)),
        model_versions=dict(versions),
    )
