"""The `lake` engine: a window's hour objects fetched whole (in memory, or a local folder), DuckDB over them.

Drift's sample and counts, quality's labelled cohort and `creditwatch lake query` all read through
`LakeWindow.opened` (creditwatch_analytics.lake.objects): one path, whatever the question. The queries
are the Athena engine's, transpiled for DuckDB (lake.sql), so the lake and Athena answer alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from creditwatch_analytics.lake.export import DEFAULT_PREFIX, Watermark, hour_floor, read_watermark
from creditwatch_analytics.lake.labelled import DEFAULT_MAX_ROWS, LabelledFrame, empty_labelled, read_labelled
from creditwatch_analytics.lake.objects import (
    IN_MEMORY_BYTES,
    Fetched,
    LakeObjects,
    duckdb_connection,
    hour_of,
    local_folder,
    memory_objects,
    parquet_view,
)
from creditwatch_analytics.lake.outcomes import (
    EMPTY_OUTCOME_EVENTS_SQL,
    LATEST_OUTCOMES_SQL,
    OUTCOMES_PREFIX,
    check_outcome_version,
)
from creditwatch_analytics.lake.reviews import (
    EMPTY_REVIEW_EVENTS_SQL,
    LATEST_REVIEWS_SQL,
    REVIEWS_PREFIX,
    check_review_version,
)
from creditwatch_analytics.lake.schema import COUNT_COLUMNS, SAMPLE_KEY_SEED, SHADOW_COLUMNS, check_version
from creditwatch_analytics.lake.source import WindowSample
from creditwatch_analytics.lake.sql import (
    CountSpec,
    WindowCounts,
    counts_query,
    parse_counts,
    render,
    reviews_filter,
    sample_query,
    versions_query,
    window_filter,
)

EMPTY_PREDICTIONS_SQL = "CREATE VIEW predictions AS SELECT NULL::VARCHAR AS prediction_id WHERE false"


@dataclass
class LakeWindow:
    """The lake: Parquet objects per hour (S3, or local files for a saved lake), read whole by DuckDB in process."""

    filesystem: Callable[[], Any]  # a pyarrow FileSystem, built on first use
    s3: Any  # boto3 S3 client, for the watermark
    bucket: str
    feature_names: list[str]
    prefix: str = DEFAULT_PREFIX
    engine: str = "lake"
    outcomes_prefix: str = OUTCOMES_PREFIX
    reviews_prefix: str = REVIEWS_PREFIX
    store: LakeObjects = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.store = LakeObjects(self.filesystem, self.bucket)

    @property
    def fs(self) -> Any:
        """The filesystem."""
        return self.store.fs

    def watermark(self) -> Watermark | None:
        """The export's watermark (None before the first export)."""
        return read_watermark(self.s3, self.bucket, self.prefix)

    def estimate_rows(self, start: datetime, end: datetime) -> int:
        """The window's records, estimated from its objects' sizes and the newest object's rows per byte."""
        files = self.store.files(self.prefix, start, end)
        total = sum(info.size or 0 for info in files)
        if not files or not total:
            return 0
        rows = self.store.footer(files[-1]).num_rows
        return round(total * rows / max(files[-1].size or 1, 1))

    @contextmanager
    def opened(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        infos: list[Any] | None = None,
        outcomes: bool = True,
        outcomes_from: datetime | None = None,
        nulls: dict[str, str] | None = None,
        reviews: bool | None = None,
    ) -> Iterator[tuple[Any, Fetched]]:
        """DuckDB with the view `predictions` over the hours [start, end) (or the whole lake), and its objects.

        With outcomes, beside it `outcome_events` (the events recorded from the hour of `outcomes_from` on,
        or all: an outcome arrives after its prediction, never before it) and `outcomes`, the latest
        recorded outcome per prediction; likewise `review_events` and `reviews`, the latest reviewer's
        decision per prediction (a case is decided after its application too; `reviews` alone: those two
        views without the outcomes, as the drift window's counts read them). `nulls` names columns (and
        SQL types) that read as null where no object holds them (a feature older hours predate). The
        objects are held in memory up to IN_MEMORY_BYTES, else in a temporary folder, and go when the
        block ends.
        """
        wanted = infos if infos is not None else self.store.files(self.prefix, start, end)
        events = self.store.files(self.outcomes_prefix) if outcomes else []
        reviews = outcomes if reviews is None else reviews
        decisions = self.store.files(self.reviews_prefix) if reviews else []
        if outcomes_from is not None:
            first = hour_floor(outcomes_from)
            events = [e for e in events if (hour := hour_of(e.path)) is None or hour >= first]
            decisions = [e for e in decisions if (hour := hour_of(e.path)) is None or hour >= first]
        # A read that fits IN_MEMORY_BYTES stays in memory (faster, measured); a bigger one waits on /tmp.
        memory = None
        if sum(info.size or 0 for info in (*wanted, *events, *decisions)) <= IN_MEMORY_BYTES:
            memory = memory_objects()
        with local_folder() as folder:
            # The objects are in memory or on local disk already: no second copy in DuckDB's remote-file cache.
            con = duckdb_connection(enable_external_file_cache=False)
            try:
                if memory is not None:
                    con.register_filesystem(memory)
                os.mkdir(predictions_dir := os.path.join(folder, "predictions"))
                fetched = self.store.fetch(wanted, check_version, predictions_dir, memory)
                if fetched.files:
                    parquet_view(con, "predictions", fetched, nulls)
                else:
                    con.execute(EMPTY_PREDICTIONS_SQL)
                if outcomes:
                    os.mkdir(outcomes_dir := os.path.join(folder, "outcomes"))
                    got = self.store.fetch(events, check_outcome_version, outcomes_dir, memory)
                    if got.files:
                        parquet_view(con, "outcome_events", got)
                    else:
                        con.execute(EMPTY_OUTCOME_EVENTS_SQL)
                    con.execute(LATEST_OUTCOMES_SQL)
                if reviews:
                    os.mkdir(reviews_dir := os.path.join(folder, "reviews"))
                    got = self.store.fetch(decisions, check_review_version, reviews_dir, memory)
                    if got.files:
                        parquet_view(con, "review_events", got)
                    else:
                        con.execute(EMPTY_REVIEW_EVENTS_SQL)
                    con.execute(LATEST_REVIEWS_SQL)
                yield con, fetched
            finally:
                con.close()

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """Versions, counts and the bottom-k sample: the Athena engine's three queries, by DuckDB over the objects.

        The sample's query also gets the key bound the footers give, when the window's whole hours are
        read for the stored key's seed: DuckDB then skips the row groups above it (each hour is sorted by
        sample key, in row groups that double from 1,000 rows), so the sample reads the first few.
        """
        infos = self.store.files(self.prefix, start, end)
        if not infos:
            return WindowSample([], 0, {}, self.engine, counts=WindowCounts() if counts is not None else None)
        # Whole hours are whole objects: the time filter is only needed for a window cut mid-hour.
        aligned = start == hour_floor(start) and end == hour_floor(end)
        where = window_filter(start, end, partitions=False, cut=not aligned)
        nulls = {**SHADOW_COLUMNS, **_count_columns(counts)}
        # The window's review decisions too: the counts' approvals are the final decisions.
        with self.opened(infos=infos, outcomes=False, reviews=counts is not None, outcomes_from=start, nulls=nulls) as (
            con,
            fetched,
        ):
            con.execute("SET preserve_insertion_order = false")  # every query that hands rows back orders them
            found = con.execute(render(versions_query(where), "duckdb")).fetchall()
            versions = {str(v if v is not None else "unknown"): int(n) for v, n in found}
            window_counts = None
            if counts is not None:
                decided: str | None = reviews_filter(start, partitions=False)
                # No reviewer decided since the window began: every final decision is the model's, and the
                # join (which reads every prediction_id) is skipped: ~0.1 s of bench/window_bench.py's day.
                any_decided = f"SELECT count(*) FROM review_events WHERE {decided}"
                if not con.execute(render(any_decided, "duckdb")).fetchone()[0]:
                    decided = None
                query = counts_query(where, counts, decided)
                window_counts = parse_counts(con.execute(render(query, "duckdb")).fetchall(), counts)
            features = [n for n in self.feature_names if n in fetched.columns]
            bound = key_bound(fetched.footers, k) if aligned and seed == SAMPLE_KEY_SEED else None
            within = where if bound is None else f"{where} AND sample_key <= {bound}"
            table = con.sql(render(sample_query(within, features, k, seed), "duckdb")).to_arrow_table()
        return WindowSample(
            None,
            sum(versions.values()),
            versions,
            self.engine,
            table=table,
            feature_names=features,
            counts=window_counts,
        )

    def labelled(
        self,
        start: datetime,
        end: datetime,
        features: list[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        seed: int = SAMPLE_KEY_SEED,
    ) -> LabelledFrame:
        """The scored predictions of [start, end) with their latest outcome, and the cohort's totals.

        `table` (a pyarrow Table) has LabelledRow's columns: prediction_id, ts, probability_good_credit,
        prediction, decision, model_version, the challenger's three, outcome (null when none yet),
        outcome_observed_at, final_decision and override (null where no reviewer decided), then one
        column per feature (the lake's typed columns rather than LabelledRow's dict), ordered by
        prediction_id. Over `max_rows` scored predictions it holds the bottom-`max_rows` sample (the
        drift sample's rule), only its ids' outcome and review events are read, and the totals count the
        whole cohort.
        """
        names = list(features if features is not None else self.feature_names)
        # An outcome is recorded after its prediction: events recorded before the cohort are not read.
        with self.opened(start, end, outcomes_from=start, nulls=SHADOW_COLUMNS) as (con, fetched):
            if "probability_good_credit" not in fetched.columns:
                return empty_labelled(names, self.engine)
            frame = read_labelled(con, start, end, [n for n in names if n in fetched.columns], max_rows, seed)
        return replace(frame, engine=self.engine)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Any SQL over the views `predictions`, `outcomes`, `outcome_events`, `reviews` and `review_events`."""
        with self.opened() as (con, _):
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall()


def _count_columns(spec: CountSpec | None) -> dict[str, str]:
    """The columns a CountSpec reads, with the SQL type each reads as when no object holds it."""
    if spec is None:
        return {}
    wanted = {**COUNT_COLUMNS, **{b.column: "VARCHAR" if b.codes is not None else "DOUBLE" for b in spec.bins}}
    wanted.update({g.column: "VARCHAR" if g.mapping else "DOUBLE" for g in spec.groups})
    return wanted


def key_bound(footers: list[Any], k: int) -> int | None:
    """A sample key under which the k smallest scored keys of the objects lie, from their footers alone.

    A row group's scored rows are its rows less the probability's nulls, all with keys within its min
    and max: groups taken by ascending max until they hold k scored rows bound the k smallest keys.
    None when a statistic is missing (every key may then be needed).
    """
    groups: list[tuple[int, int]] = []  # (max key, scored rows)
    for md in footers:
        names = md.schema.names
        if "sample_key" not in names or "probability_good_credit" not in names:
            return None
        ki, pi = names.index("sample_key"), names.index("probability_good_credit")
        for g in range(md.num_row_groups):
            group = md.row_group(g)
            keys, probability = group.column(ki).statistics, group.column(pi).statistics
            if keys is None or probability is None or not keys.has_min_max or probability.null_count is None:
                return None
            if group.num_rows > probability.null_count:
                groups.append((int(keys.max), group.num_rows - probability.null_count))
    total = 0
    for high, scored in sorted(groups):
        total += scored
        if total >= k:
            return high
    return None  # fewer than k scored rows: every one is in the sample
