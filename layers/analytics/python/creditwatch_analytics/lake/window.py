"""The one read interface of the analytics jobs: `engine_for(settings, clients, ...)` and its WindowSource.

Every engine answers the same two questions (lake.source.WindowSource): `scored_sample` (drift: the
window's bottom-k sample, its scored count and model versions, and the counts over every record) and
`labelled` (quality: the cohort's scored predictions with their latest outcome, counted whole). Engines:
`dynamodb` (the table, streamed), `lake` (the lake's objects, DuckDB in process: lake.read), `athena`
(the Glue table: lake.athena; a job without an Athena client reads the lake for it) and `auto` (the
lake for the hours its watermark covers, through Athena above the crossover, the table for the rest).
Every engine keeps the same records: the k smallest (sample key, id) (creditwatch_analytics.sampling).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from creditwatch_analytics.lake.athena import AthenaClient, AthenaWindow
from creditwatch_analytics.lake.labelled import (
    DEFAULT_MAX_ROWS,
    LABELLED_COLUMNS,
    LabelledFrame,
    labelled_from_rows,
)
from creditwatch_analytics.lake.objects import duckdb_connection, s3_filesystem
from creditwatch_analytics.lake.read import LakeWindow
from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED
from creditwatch_analytics.lake.source import WindowSample, WindowSource
from creditwatch_analytics.lake.sql import CountingStream, CountSpec
from creditwatch_analytics.sampling import bottom_k
from creditwatch_common.log.reader import LogReader
from creditwatch_common.outcomes import LabelledRow
from creditwatch_common.records import ScoredRow

__all__ = [
    "LABELLED_COLUMNS",
    "AutoWindow",
    "DynamoWindow",
    "Engine",
    "LakeWindow",
    "WindowSample",
    "WindowSource",
    "duckdb_connection",
    "engine_for",
    "s3_filesystem",
]

Engine = Literal["auto", "dynamodb", "lake", "athena"]
# Records above which `auto` reads a lake window through Athena rather than in the function: measured
# by bench/window_bench.py (the in-function lake engine's time against Athena's modelled time): 32 M
# records, about 22 days at 1,000 requests a minute.
ATHENA_ABOVE_ROWS = 32_000_000


@dataclass
class DynamoWindow:
    """The prediction log's table, read by Query per day and shard, streamed (items expire after the TTL)."""

    reader: LogReader
    engine: str = "dynamodb"

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """Streamed into the bottom-k sample (memory holds k records, however large the window), counted on the way."""
        stream = CountingStream(counts) if counts is not None else None
        rows_in: Iterator[ScoredRow] = self.reader.query_window(start, end, ScoredRow, scored_only=True)
        rows, n, versions = bottom_k(stream.over(rows_in) if stream is not None else rows_in, k, seed)
        return WindowSample(
            rows, n, dict(versions), self.engine, {self.engine: n}, counts=stream.counts if stream else None
        )

    def labelled(
        self,
        start: datetime,
        end: datetime,
        features: list[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        seed: int = SAMPLE_KEY_SEED,
    ) -> LabelledFrame:
        """The cohort with the outcomes on its items: the same bottom-k as the lake's, counted whole."""
        rows = self.reader.query_window(start, end, LabelledRow, scored_only=True)
        return labelled_from_rows(rows, features or [], max_rows, seed, self.engine)


@dataclass
class AutoWindow:
    """The lake for the hours it holds completely (through Athena above the crossover), the table for the rest."""

    dynamodb: DynamoWindow
    lake: LakeWindow | None
    athena: WindowSource | None = None
    athena_above_rows: int = ATHENA_ABOVE_ROWS
    engine: str = "auto"

    def lake_part(self, start: datetime, end: datetime) -> WindowSource:
        """The engine for the lake's part of a window: the function's DuckDB up to the crossover, Athena above."""
        assert self.lake is not None
        if self.athena is not None and self.lake.estimate_rows(start, end) > self.athena_above_rows:
            return self.athena
        return self.lake

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """Bottom-k of the union is the bottom-k of the two parts' bottom-k: exact, whatever the split; counts add."""
        mark = self.lake.watermark() if self.lake is not None else None
        if self.lake is None or mark is None or not (mark.first_hour <= start < mark.complete_through):
            return self.dynamodb.scored_sample(start, end, k, seed, counts)
        split = min(end, mark.complete_through)
        old = self.lake_part(start, split).scored_sample(start, split, k, seed, counts)
        if split >= end:
            return old
        new = self.dynamodb.scored_sample(split, end, k, seed, counts)
        rows, _, _ = bottom_k([*old.rows, *new.rows], k, seed)
        return WindowSample(
            rows=rows,
            rows_read=old.rows_read + new.rows_read,
            model_versions=dict(Counter(old.model_versions) + Counter(new.model_versions)),
            engine=f"{old.engine}+dynamodb",
            engine_rows={old.engine: old.rows_read, "dynamodb": new.rows_read},
            counts=old.counts + new.counts if old.counts is not None and new.counts is not None else None,
        )

    def labelled(
        self,
        start: datetime,
        end: datetime,
        features: list[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        seed: int = SAMPLE_KEY_SEED,
    ) -> LabelledFrame:
        """The cohort from the lake when its watermark covers every hour of it, else from the table."""
        mark = self.lake.watermark() if self.lake is not None else None
        if self.lake is not None and mark is not None and mark.first_hour <= start and end <= mark.complete_through:
            return self.lake.labelled(start, end, features, max_rows, seed)
        return self.dynamodb.labelled(start, end, features, max_rows, seed)


class EngineSettings(Protocol):
    """What engine_for reads of a job's settings (DriftSettings and QualitySettings have it)."""

    @property
    def predictions_table(self) -> str:
        """The prediction log's table."""
        ...

    @property
    def log_shards(self) -> int:
        """Its shards per day."""
        ...

    @property
    def lake_bucket(self) -> str | None:
        """The lake's bucket (None: no lake)."""
        ...

    @property
    def lake_prefix(self) -> str:
        """The predictions' prefix in it."""
        ...

    @property
    def analytics_engine(self) -> Engine:
        """ANALYTICS_ENGINE."""
        ...


def engine_for(
    settings: EngineSettings,
    clients: Any,
    feature_names: list[str],
    athena: AthenaClient | None = None,
    athena_above_rows: int = ATHENA_ABOVE_ROWS,
) -> WindowSource:
    """The engine ANALYTICS_ENGINE names, built from the job's settings and AwsClients (tests pass their own).

    `lake` and `athena` without LAKE_BUCKET are an error; `athena` without an Athena client (the quality
    job has none) reads the lake in the function; `auto` without LAKE_BUCKET reads the table.
    """
    table = DynamoWindow(
        LogReader(dynamodb=clients.lazy("dynamodb"), table=settings.predictions_table, shards=settings.log_shards)
    )
    lake = None
    if settings.lake_bucket:
        # pyarrow's S3 client is not boto3: it gets the session's credentials and the local endpoint, if any.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        lake = LakeWindow(
            filesystem=lambda: s3_filesystem(clients.session, endpoint),
            s3=clients.lazy("s3"),
            bucket=settings.lake_bucket,
            feature_names=feature_names,
            prefix=settings.lake_prefix,
        )
    engine = settings.analytics_engine
    if engine == "dynamodb":
        return table
    if engine in ("lake", "athena") and lake is None:
        raise ValueError(f"ANALYTICS_ENGINE={engine} needs LAKE_BUCKET")
    by_athena = AthenaWindow(athena, feature_names, lake=lake) if athena is not None else None
    if engine == "lake" or (engine == "athena" and by_athena is None):
        assert lake is not None
        return lake
    if engine == "athena":
        assert by_athena is not None
        return by_athena
    return AutoWindow(table, lake, by_athena, athena_above_rows)
