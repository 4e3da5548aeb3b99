"""What every window engine answers: a window's sample and counts (drift), a cohort's labelled rows (quality)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from creditwatch_analytics.lake.labelled import DEFAULT_MAX_ROWS, LabelledFrame
from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED, scored_rows
from creditwatch_analytics.lake.sql import CountSpec, WindowCounts
from creditwatch_common.records import ScoredRow


class WindowSample:
    """A window's uniform sample (in sample order), its scored record count and who read it.

    The lake hands its sample as an Arrow table (`table`), made into rows only when asked for.
    """

    def __init__(
        self,
        rows: list[ScoredRow] | None,
        rows_read: int,
        model_versions: dict[str, int],
        engine: str,
        engine_rows: dict[str, int] | None = None,
        *,
        table: Any = None,
        feature_names: list[str] | None = None,
        counts: WindowCounts | None = None,
    ) -> None:
        self._rows = rows
        self.rows_read = rows_read
        self.model_versions = model_versions
        self.engine = engine
        self.engine_rows = engine_rows if engine_rows is not None else {engine: rows_read}
        self.table = table
        self.feature_names = feature_names or []
        # Counts over every scored record of the window (not the sample), when a CountSpec was asked for.
        self.counts = counts

    @property
    def rows(self) -> list[ScoredRow]:
        """The sample as rows."""
        if self._rows is None:
            self._rows = scored_rows(self.table, self.feature_names) if self.table is not None else []
        return self._rows


class WindowSource(Protocol):
    """One engine (`dynamodb`, `lake`, `athena`, `auto`): the only way the drift and quality jobs read records."""

    engine: str

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """The k records of smallest (sample key, id) among the scored records of [start, end), and their count.

        With a CountSpec, also the window's bin and group counts over all its scored records.
        """
        ...

    def labelled(
        self,
        start: datetime,
        end: datetime,
        features: list[str],
        max_rows: int = DEFAULT_MAX_ROWS,
        seed: int = SAMPLE_KEY_SEED,
    ) -> LabelledFrame:
        """The scored predictions of [start, end) with their latest outcome (bottom-max_rows over it), counted whole."""
        ...
