"""A cohort of scored predictions read from the log, with the outcomes recorded on them, as arrays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from creditwatch_common.log import LogReader
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


def cohort_of_table(table: Any, threshold: float) -> Cohort:
    """Arrays of the lake's labelled frame (a pyarrow Table: LakeWindow.labelled_frame), column by column."""
    frame = table.to_pandas()
    p = pd.to_numeric(frame["probability_good_credit"], errors="coerce")
    frame = frame[p.notna()].reset_index(drop=True)
    p = p[p.notna()].to_numpy(dtype=float)
    decision = frame["decision"]
    approved = np.where(decision.notna(), decision == "approve", p >= threshold).astype(bool)
    outcome = frame["outcome"].map({"good": 1, "bad": 0}).fillna(-1).astype(int).to_numpy()
    protected = pd.DataFrame(
        {c: (frame[c] if c in frame else pd.Series([None] * len(frame), dtype=object)) for c in PROTECTED_COLUMNS}
    )
    versions = frame["model_version"].fillna("unknown").astype(str).value_counts()
    return Cohort(
        rows=len(p),
        p_good=p,
        approved=approved,
        outcome=outcome,
        protected=protected,
        model_versions={str(k): int(v) for k, v in versions.items()},
    )


class CohortSource(Protocol):
    """Where a cohort is read: the table, the lake, or the lake where its watermark covers the cohort."""

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort of [start, end) and the engine that read it."""
        ...


@dataclass(frozen=True)
class TableCohorts:
    """The cohort from the table: one Query per day and shard, rows streamed (items expire after the TTL)."""

    reader: LogReader

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort's rows with the outcomes on their items."""
        rows = self.reader.query_window(start, end, LabelledRow, scored_only=True)
        return cohort_of(rows, threshold), "dynamodb"


@dataclass(frozen=True)
class LakeCohorts:
    """The cohort from the lake: predictions joined to their latest outcome by DuckDB (kept LakeRetentionDays)."""

    lake: Any  # creditwatch_common.lake.window.LakeWindow

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort's rows with their outcomes, from the exported hours."""
        return cohort_of_table(self.lake.labelled_frame(start, end, list(PROTECTED_COLUMNS)), threshold), "lake"


@dataclass(frozen=True)
class AutoCohorts:
    """The lake when its watermark covers the whole cohort (older than the table keeps), else the table."""

    table: TableCohorts
    lake: LakeCohorts | None

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort, from the lake when it holds every hour of it."""
        mark = self.lake.lake.watermark() if self.lake is not None else None
        if self.lake is not None and mark is not None and mark.first_hour <= start and end <= mark.complete_through:
            return self.lake.read(start, end, threshold)
        return self.table.read(start, end, threshold)
