"""A cohort of scored predictions read from the log, with the outcomes recorded on them, as arrays."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from creditwatch_analytics.lake.labelled import DEFAULT_MAX_ROWS
from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED
from creditwatch_analytics.sampling import sample_mask
from creditwatch_common.log import LogReader
from creditwatch_common.outcomes import LabelledRow, label_of
from creditwatch_quality.figures import Labelled

# What outcome fairness needs of the features: the protected attributes' columns only.
PROTECTED_COLUMNS = ("personal_status_and_sex", "age_in_years", "foreign_worker")


@dataclass(frozen=True)
class Population:
    """The whole cohort's counts, whether or not the arrays hold all of it."""

    rows: int  # scored predictions
    labelled_rows: int  # of them, with an outcome
    bad_rows: int  # of them, whose (latest) outcome is bad


@dataclass(frozen=True)
class Cohort:
    """The scored predictions of the window (P(good), approved) and the labelled ones' outcomes and groups.

    Every one of them, or, over the source's max_rows, their uniform bottom-k sample on the sample key
    (`population` then counts the whole cohort; `sampled` is true).
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

    @property
    def sampled(self) -> bool:
        """Whether the arrays are a sample of a larger cohort."""
        return self.population is not None and self.population.rows > self.rows

    @property
    def totals(self) -> Population:
        """The whole cohort's counts (the arrays' own when they hold all of it)."""
        if self.population is not None:
            return self.population
        return Population(self.rows, self.labelled_rows, int((self.outcome == 0).sum()))

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


def cohort_of(
    rows: Iterable[LabelledRow], threshold: float, max_rows: int | None = None, seed: int = SAMPLE_KEY_SEED
) -> Cohort:
    """Arrays of the rows streamed from the log; over max_rows, of their bottom-k sample on the sample key.

    Memory holds, per kept row, three numbers and three codes: the whole cohort, or max_rows of it kept
    by the same key and order as the lake's sample (sampling.sample_key, ties by id), counted on the way.
    """
    mask = sample_mask(seed)
    # (-key, -id, row): the heap's top is the largest (key, id) kept, the next one to go.
    heap: list[tuple[int, int, _Kept]] = []
    versions: Counter[str] = Counter()
    n = labelled = bad = 0
    for row in rows:
        if row.probability_good_credit is None:
            continue
        prob = float(row.probability_good_credit)
        label = label_of(row.outcome)
        n += 1
        versions[row.model_version] += 1
        labelled += label is not None
        bad += label == 0
        kept = _Kept(
            p=prob,
            # The decision the applicant got, as logged; the threshold only when an old item lacks it.
            approved=row.decision == "approve" if row.decision else prob >= threshold,
            outcome=-1 if label is None else label,
            protected=tuple(row.features.get(c) for c in PROTECTED_COLUMNS),
            prediction_id=row.prediction_id,
        )
        if max_rows is None:
            heap.append((0, 0, kept))
            continue
        item = (-(int(row.prediction_id[-12:], 16) ^ mask), -_id_number(row.prediction_id), kept)
        if len(heap) < max_rows:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)
    # Id order, as the lake's frame: the arrays do not depend on the order the rows streamed in.
    kept_rows = sorted((k for *_, k in heap), key=lambda k: k.prediction_id)
    return Cohort(
        rows=len(kept_rows),
        p_good=np.asarray([k.p for k in kept_rows], dtype=float),
        approved=np.asarray([k.approved for k in kept_rows], dtype=bool),
        outcome=np.asarray([k.outcome for k in kept_rows], dtype=int),
        protected=pd.DataFrame([k.protected for k in kept_rows], columns=list(PROTECTED_COLUMNS)),
        model_versions=dict(versions),
        population=Population(n, labelled, bad),
    )


@dataclass(frozen=True, slots=True)
class _Kept:
    """What a cohort keeps of a row."""

    p: float
    approved: bool
    outcome: int
    protected: tuple[object, ...]
    prediction_id: str


def _id_number(prediction_id: str) -> int:
    """The id's 128 bits: ordered as the ids' text (lower-case hex), kept in one int rather than a string."""
    return int(prediction_id.replace("-", ""), 16)


def cohort_of_table(table: Any, threshold: float, labelled: Any = None) -> Cohort:
    """Arrays of the lake's labelled rows (a pyarrow Table: LakeWindow.labelled_frame's), column by column.

    With the LabelledFrame they came in, the cohort's totals and model versions are the whole cohort's.
    """
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
    population = None
    if labelled is not None:
        population = Population(labelled.rows, labelled.labelled_rows, labelled.bad_rows)
    return Cohort(
        rows=len(p),
        p_good=p,
        approved=approved,
        outcome=outcome,
        protected=protected,
        model_versions=(
            dict(labelled.model_versions) if labelled is not None else {str(k): int(v) for k, v in versions.items()}
        ),
        population=population,
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
    # Rows kept at most: over it, the bottom-k sample on the sample key (the same rows as the lake's).
    max_rows: int = DEFAULT_MAX_ROWS
    seed: int = SAMPLE_KEY_SEED
    # progress(days and shards read, days and shards): a local run's bar (minutes on moto).
    progress: Callable[[int, int], None] | None = None

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort's rows with the outcomes on their items (a uniform sample over max_rows), counted whole."""
        rows = self.reader.query_window(start, end, LabelledRow, scored_only=True, progress=self.progress)
        return cohort_of(rows, threshold, self.max_rows, self.seed), "dynamodb"


@dataclass(frozen=True)
class LakeCohorts:
    """The cohort from the lake: predictions joined to their latest outcome by DuckDB (kept LakeRetentionDays)."""

    lake: Any  # creditwatch_analytics.lake.window.LakeWindow
    # Rows read at most: over it, the bottom-k sample on the sample key, only its outcomes joined.
    max_rows: int = DEFAULT_MAX_ROWS
    seed: int = SAMPLE_KEY_SEED

    def read(self, start: datetime, end: datetime, threshold: float) -> tuple[Cohort, str]:
        """The cohort's rows with their outcomes (a uniform sample over max_rows), counted whole, from the lake."""
        labelled = self.lake.labelled_frame(start, end, list(PROTECTED_COLUMNS), self.max_rows, self.seed)
        return cohort_of_table(labelled.table, threshold, labelled), "lake"


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
