"""One window source for every job: engine `dynamodb` (the table), `lake` (S3 Parquet, DuckDB) or `athena`.

Each engine returns the same thing for a window: the bottom-k uniform sample on the ids (the same
records whichever engine, see creditwatch_analytics.sampling), how many scored records the window holds
and their model versions, and, given a CountSpec, the counts over every scored record (frozen bins,
protected groups: creditwatch_analytics.lake.sql). `auto` reads the hours the lake holds completely from
the lake (through Athena above the crossover) and the rest (the current hour, or all of it when the
lake does not reach back to the window's start) from the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from creditwatch_analytics.lake.export import DEFAULT_PREFIX, HOUR, Watermark, hour_floor, read_watermark
from creditwatch_analytics.lake.labelled import DEFAULT_MAX_ROWS, LabelledFrame, read_labelled
from creditwatch_analytics.lake.outcomes import (
    EMPTY_OUTCOME_EVENTS_SQL,
    LATEST_OUTCOMES_SQL,
    OUTCOMES_PREFIX,
    check_outcome_version,
)
from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED, check_version, not_parquet, scored_rows
from creditwatch_analytics.lake.sql import (
    CountingStream,
    CountSpec,
    WindowCounts,
    counts_query,
    parse_counts,
    render,
    window_filter,
)
from creditwatch_analytics.sampling import bottom_k, sample_mask, sorted_by_key
from creditwatch_common.log.reader import LogReader
from creditwatch_common.records import ScoredRow

Engine = Literal["auto", "dynamodb", "lake", "athena"]
OUTPUTS = ("prediction_id", "probability_good_credit", "decision", "model_version")


class WindowSample:
    """A window's uniform sample (in sample-key order), its scored record count and who read it.

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
    """Reads the scored records of a window."""

    engine: str

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """The k records of smallest sample key among the scored records of [start, end), and their count.

        With a CountSpec, also the window's bin and group counts over all its scored records.
        """
        ...


@dataclass
class DynamoWindow:
    """The prediction log's table, read by Query per day and shard (today's reader)."""

    reader: LogReader
    engine: str = "dynamodb"

    def scored_rows(self, start: datetime, end: datetime) -> Iterator[ScoredRow]:
        """Every scored record of [start, end), streamed."""
        return self.reader.query_window(start, end, ScoredRow, scored_only=True)

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """Streamed into the bottom-k sample (memory holds k records, however large the window), counted on the way."""
        stream = CountingStream(counts) if counts is not None else None
        rows_in = self.scored_rows(start, end)
        rows, n, versions = bottom_k(stream.over(rows_in) if stream is not None else rows_in, k, seed)
        return WindowSample(
            rows, n, dict(versions), self.engine, {self.engine: n}, counts=stream.counts if stream else None
        )


def duckdb_connection(**config: Any) -> Any:
    """An in-process DuckDB that never installs or loads an extension on its own (no download at run time)."""
    import duckdb

    return duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False, **config})


def s3_filesystem(session: Any, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """The pyarrow S3 filesystem with a boto3 session's credentials (and a local endpoint, if given)."""
    from pyarrow import fs as pafs

    creds = session.get_credentials().get_frozen_credentials()
    kwargs: dict[str, Any] = {
        "access_key": creds.access_key,
        "secret_key": creds.secret_key,
        "session_token": creds.token,
        "region": region or session.region_name or "us-east-1",
    }
    if endpoint_url:
        url = urlparse(endpoint_url)
        kwargs.update(endpoint_override=url.netloc, scheme=url.scheme or "https")
    return pafs.S3FileSystem(**kwargs)


@dataclass
class LakeWindow:
    """The lake: Parquet objects per hour read as one pyarrow dataset, queried in process by DuckDB."""

    filesystem: Callable[[], Any]  # a pyarrow FileSystem, built on first use
    s3: Any  # boto3 S3 client, for the watermark
    bucket: str
    feature_names: list[str]
    prefix: str = DEFAULT_PREFIX
    engine: str = "lake"
    outcomes_prefix: str = OUTCOMES_PREFIX
    _fs: Any = field(default=None, init=False, repr=False)

    @property
    def fs(self) -> Any:
        """The filesystem."""
        if self._fs is None:
            self._fs = self.filesystem()
        return self._fs

    def watermark(self) -> Watermark | None:
        """The export's watermark (None before the first export)."""
        return read_watermark(self.s3, self.bucket, self.prefix)

    def objects(
        self, start: datetime | None = None, end: datetime | None = None, prefix: str | None = None
    ) -> list[str]:
        """Paths (bucket/key) of the objects of the hours [start, end), or all, under a prefix (predictions')."""
        return sorted(info.path for info in self._files(start, end, prefix))

    def estimate_rows(self, start: datetime, end: datetime) -> int:
        """The window's records, estimated from its objects' sizes and the newest object's rows per byte."""
        files = sorted(self._files(start, end), key=lambda info: info.path)
        total = sum(info.size or 0 for info in files)
        if not files or not total:
            return 0
        newest = files[-1]
        rows = self.dataset([newest.path]).count_rows()
        return round(total * rows / max(newest.size or 1, 1))

    def _files(self, start: datetime | None, end: datetime | None, prefix: str | None = None) -> list[Any]:
        from pyarrow import fs as pafs

        root = f"{self.bucket}/{prefix or self.prefix}"
        if start is None or end is None:
            dirs = [root]
        else:
            day, last = hour_floor(start).date(), (end - timedelta(milliseconds=1)).date()
            dirs = []
            while day <= last:
                dirs.append(f"{root}/dt={day.isoformat()}")
                day += timedelta(days=1)
        files = []
        for d in dirs:
            for info in self.fs.get_file_info(pafs.FileSelector(d, recursive=True, allow_not_found=True)):
                if info.type != pafs.FileType.File or info.base_name.startswith(("_", ".")):
                    continue
                if start is not None and end is not None and not _hour_in(info.path, start, end):
                    continue
                files.append(info)
        return files

    def dataset(self, paths: list[str], check: Callable[[Any, str], int] = check_version) -> Any:
        """One dataset over the objects: each footer checked first, schemas unified (a new model's extra column).

        The footers are read once, in parallel, and kept in the fragments: every later scan of the
        dataset starts reading data at once (an S3 round trip per object and query saved).
        """
        import pyarrow as pa
        import pyarrow.dataset as ds

        if not paths:
            return None
        fmt = ds.ParquetFileFormat()

        def fragment(path: str) -> Any:
            key = path.split("/", 1)[1]
            frag = fmt.make_fragment(path, filesystem=self.fs)
            try:
                frag.ensure_complete_metadata()
                schema = frag.physical_schema
            except (pa.ArrowInvalid, OSError) as exc:
                raise not_parquet(key, exc) from exc
            check(schema.metadata, key)
            return frag, schema.remove_metadata()

        with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
            done = list(pool.map(fragment, paths))
        schema = pa.unify_schemas([s for _, s in done])
        return ds.FileSystemDataset([f for f, _ in done], schema=schema, format=fmt, filesystem=self.fs)

    def connect(
        self, start: datetime | None = None, end: datetime | None = None, outcomes_from: datetime | None = None
    ) -> Any:
        """A DuckDB connection with the view `predictions` over the hours [start, end) (or the whole lake).

        Beside it, `outcome_events` (the outcome events of the lake recorded from the hour of
        `outcomes_from` on, or all: an outcome arrives months after its prediction, never before it)
        and `outcomes`, the latest recorded outcome per prediction, so that
        `predictions JOIN outcomes USING (prediction_id)` labels the predictions.
        """
        con = duckdb_connection()
        dataset = self.dataset(self.objects(start, end))
        if dataset is None:
            con.execute("CREATE VIEW predictions AS SELECT NULL::VARCHAR AS prediction_id WHERE false")
        else:
            con.register("predictions", dataset)
        paths = self.objects(prefix=self.outcomes_prefix)
        if outcomes_from is not None:
            first = hour_floor(outcomes_from)
            paths = [p for p in paths if (hour := _hour_of(p)) is None or hour >= first]
        events = self.dataset(paths, check=check_outcome_version)
        if events is None:
            con.execute(EMPTY_OUTCOME_EVENTS_SQL)
        else:
            con.register("outcome_events", events)
        con.execute(LATEST_OUTCOMES_SQL)
        return con

    def labelled_frame(
        self,
        start: datetime,
        end: datetime,
        feature_names: list[str] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        seed: int = SAMPLE_KEY_SEED,
    ) -> LabelledFrame:
        """The scored predictions of [start, end) with their latest outcome, if any, and the cohort's totals.

        `table` (a pyarrow Table) has LabelledRow's columns: prediction_id, ts, probability_good_credit,
        prediction, decision, model_version, outcome (null when none yet), outcome_observed_at, then one
        column per feature (the lake's typed columns rather than LabelledRow's dict), ordered by
        prediction_id. Over `max_rows` scored predictions it holds the uniform bottom-`max_rows` sample
        on the sample key (the drift sample's), only its ids' outcome events are read, and the totals
        (scored, labelled, bad, per model version) still count the whole cohort (in SQL, not as rows).
        """
        # An outcome is recorded after its prediction: events recorded before the cohort are not read.
        con = self.connect(start, end, outcomes_from=start)
        try:
            columns = set(con.sql("SELECT * FROM predictions LIMIT 0").columns)
            if "probability_good_credit" not in columns:
                return LabelledFrame(_empty_labelled(list(feature_names or self.feature_names)), 0, 0, 0)
            features = [n for n in (feature_names or self.feature_names) if n in columns]
            return read_labelled(con, start, end, columns, features, max_rows, seed)
        finally:
            con.close()

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> WindowSample:
        """The bottom-k sample and the counts: the window's objects fetched whole, DuckDB over each batch of them.

        The counts read most columns of every record, so an object comes in one GET (a GET per column
        chunk costs more than the bytes it skips), the next batch arriving while one is counted. Each
        object's footer is checked from its bytes; DuckDB's own Parquet reader reads them from memory.
        """
        infos = sorted(self._files(start, end), key=lambda info: info.path)
        if not infos:
            return WindowSample([], 0, {}, self.engine, counts=WindowCounts() if counts is not None else None)
        aligned = start == hour_floor(start) and end == hour_floor(end)
        counted = None
        if counts is not None:
            # Whole hours are whole objects: the time filter is only needed for a window cut mid-hour.
            counted = render(
                counts_query(window_filter(start, end, partitions=False, cut=not aligned), counts), "duckdb"
            )
        window_counts = WindowCounts() if counts is not None else None
        versions: Counter[str] = Counter()
        best: Any = None  # the k smallest keys so far (an Arrow table in key order)
        store = _ObjectStore()
        with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
            for batch in _batches(infos, FETCH_BATCH_BYTES, lambda info: pool.submit(self._fetch, info)):
                # The objects are in memory already (no second copy in DuckDB's cache of remote files), and
                # every query that hands rows back orders them itself.
                con = duckdb_connection(enable_external_file_cache=False, preserve_insertion_order=False)
                try:
                    paths, metadata = store.put(batch)
                    del batch
                    columns = _create_view(con, store, paths, metadata, counts)
                    if counted is not None and counts is not None and window_counts is not None:
                        window_counts = window_counts + parse_counts(con.execute(counted).fetchall(), counts)
                    sampler = _BatchSample(con, columns, start, end, aligned, k, seed)
                    found, best = sampler.merge(metadata, self.feature_names, best)
                    versions.update(found)
                finally:
                    con.close()
                    store.clear()
        table = best.drop_columns([SAMPLE_ORDER]) if best is not None else None
        return WindowSample(
            None if table is not None else [],
            sum(versions.values()),
            dict(versions),
            self.engine,
            table=table,
            feature_names=[n for n in self.feature_names if table is not None and n in table.column_names],
            counts=window_counts,
        )

    def _fetch(self, info: Any) -> tuple[str, bytes]:
        """One object, whole: its key and bytes."""
        with self.fs.open_input_file(info.path) as f:
            return info.path.split("/", 1)[1], f.read()

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Any SQL over the views `predictions`, `outcomes` and `outcome_events` (the whole lake): names and rows."""
        con = self.connect()
        try:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall()
        finally:
            con.close()


# Records above which `auto` reads a lake window through Athena rather than in the function: measured
# by bench/window_bench.py (the in-function lake engine's time against Athena's modelled time): 32 M
# records, about 22 days at 1,000 requests a minute.
ATHENA_ABOVE_ROWS = 32_000_000


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
        versions = Counter(old.model_versions) + Counter(new.model_versions)
        return WindowSample(
            rows=sorted_by_key([*old.rows, *new.rows], sample_mask(seed))[:k],
            rows_read=old.rows_read + new.rows_read,
            model_versions=dict(versions),
            engine=f"{old.engine}+dynamodb",
            engine_rows={old.engine: old.rows_read, "dynamodb": new.rows_read},
            counts=old.counts + new.counts if old.counts is not None and new.counts is not None else None,
        )


def window_source(
    engine: Engine,
    dynamodb: DynamoWindow,
    lake: LakeWindow | None,
    athena: WindowSource | None = None,
    athena_above_rows: int = ATHENA_ABOVE_ROWS,
) -> WindowSource:
    """The source an engine setting names; `lake` or `athena` without what it reads is an error."""
    if engine == "dynamodb":
        return dynamodb
    if engine == "lake":
        if lake is None:
            raise ValueError("ANALYTICS_ENGINE=lake needs LAKE_BUCKET")
        return lake
    if engine == "athena":
        if athena is None:
            raise ValueError("ANALYTICS_ENGINE=athena needs LAKE_BUCKET, ATHENA_WORKGROUP and LAKE_DATABASE")
        return athena
    return AutoWindow(dynamodb, lake, athena, athena_above_rows)


# Bytes of objects a DuckDB pass reads from memory: a pass holds its batch, and the next one arriving,
# so a window of any size reads in bounded memory (a day at 1,000 requests a minute is ~100 MB); a pass
# costs ~0.1 s of its own (measured), so fewer, larger ones are faster.
FETCH_BATCH_BYTES = 128 << 20
FETCH_THREADS = 16
SAMPLE_ORDER = "_sample_order"


def _batches(
    infos: list[Any], limit: int, submit: Callable[[Any], Future[tuple[str, bytes]]]
) -> Iterator[list[tuple[str, bytes]]]:
    """The objects in batches of about `limit` bytes, each batch fetched while the one before it is used."""
    groups: list[list[Any]] = [[]]
    size = 0
    for info in infos:
        if groups[-1] and size + (info.size or 0) > limit:
            groups.append([])
            size = 0
        groups[-1].append(info)
        size += info.size or 0
    pending = [submit(info) for info in groups[0]]
    for i in range(len(groups)):
        following = [submit(info) for info in groups[i + 1]] if i + 1 < len(groups) else []
        yield [f.result() for f in pending]
        pending = following


class _ObjectStore:
    """A batch of fetched objects, served to DuckDB from memory (an fsspec filesystem of this read's own)."""

    def __init__(self) -> None:
        self.fs = _memory_objects()
        self.batches = 0

    def put(self, batch: list[tuple[str, bytes]]) -> tuple[list[str], list[Any]]:
        """Each object's footer checked (Parquet, a schema version this code reads), then stored: paths, footers."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        paths, footers = [], []
        # A path is never reused: no cache of DuckDB's can answer for an earlier batch's object.
        self.batches += 1
        for i, (key, body) in enumerate(batch):
            try:
                footer = pq.read_metadata(pa.BufferReader(body))
            except (pa.ArrowInvalid, OSError) as exc:
                raise not_parquet(key, exc) from exc
            check_version(footer.metadata, key)
            name = f"batch-{self.batches}/{i}.parquet"
            self.fs.objects[name] = body
            paths.append(f"{OBJECTS_PROTOCOL}://{name}")
            footers.append(footer)
        return paths, footers

    def clear(self) -> None:
        """Forget the batch."""
        self.fs.objects.clear()


OBJECTS_PROTOCOL = "creditwatch-lake"


def _memory_objects() -> Any:
    """A read-only fsspec filesystem over bytes held in memory, each open a reader of its own.

    fsspec's MemoryFileSystem copies an object whenever its size is asked and hands every open of a
    path one shared file object ("each path should only be active once"), while DuckDB's threads each
    open the file they scan: here no copy is made and every open gets its own position.
    """
    import io
    from datetime import UTC

    from fsspec import AbstractFileSystem

    class MemoryObjects(AbstractFileSystem):  # type: ignore[misc]
        protocol = OBJECTS_PROTOCOL
        cachable = False
        created = datetime.now(UTC)

        def __init__(self) -> None:
            super().__init__()
            self.objects: dict[str, bytes] = {}

        def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
            name = self._strip_protocol(path)
            if name not in self.objects:
                raise FileNotFoundError(path)
            return {"name": name, "size": len(self.objects[name]), "type": "file"}

        def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
            name = self._strip_protocol(path).rstrip("/")
            names = [name] if name in self.objects else [n for n in self.objects if n.startswith(f"{name}/")]
            return [self.info(n) for n in names] if detail else names

        def modified(self, path: str) -> datetime:
            self.info(path)
            return self.created

        def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> io.BytesIO:
            if mode != "rb":
                raise PermissionError(f"{path}: read-only")
            self.info(path)
            return io.BytesIO(self.objects[self._strip_protocol(path)])

    return MemoryObjects()


def _create_view(
    con: Any, store: _ObjectStore, paths: list[str], footers: list[Any], spec: CountSpec | None
) -> set[str]:
    """The view `predictions` over a batch (its objects' schemas unified by name); the columns it has.

    A column the counts read that no object of the batch holds (a feature older hours predate) reads as null.
    """
    con.register_filesystem(store.fs)
    columns: set[str] = set()
    for footer in footers:
        columns.update(footer.schema.to_arrow_schema().names)
    missing = []
    if spec is not None:
        wanted = {b.column: "VARCHAR" if b.codes is not None else "DOUBLE" for b in spec.bins}
        wanted.update({g.column: "VARCHAR" if g.mapping else "DOUBLE" for g in spec.groups})
        missing = [f'NULL::{t} AS "{c}"' for c, t in wanted.items() if c not in columns]
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    extra = "".join(f", {m}" for m in missing)
    con.execute(f"CREATE VIEW predictions AS SELECT *{extra} FROM read_parquet([{files}], union_by_name = true)")
    return columns


@dataclass
class _BatchSample:
    """One batch's part of the bottom-k sample, in DuckDB: the same key as sampling.sample_key."""

    con: Any
    columns: set[str]
    start: datetime
    end: datetime
    aligned: bool
    k: int
    seed: int

    def merge(self, footers: list[Any], feature_names: list[str], best: Any) -> tuple[Counter[str], Any]:
        """The batch's scored rows per model version, and the k smallest keys of the batch and `best` together."""
        import pyarrow as pa

        params: dict[str, Any] = {}
        where = "probability_good_credit IS NOT NULL"
        if not self.aligned:
            where += " AND ts >= $start AND ts < $end"
            params.update(start=self.start, end=self.end)
        # The files carry the key of the default seed (the id's last 12 hex digits XOR its mask), sorted by it.
        keyed = self.seed == SAMPLE_KEY_SEED and "sample_key" in self.columns
        if keyed:
            key = "sample_key"
        else:
            key = "xor(('0x' || right(prediction_id, 12))::UBIGINT, $mask::UBIGINT)"
            params["mask"] = sample_mask(self.seed)
        bound = _bound_from_statistics(footers, self.k) if keyed and self.aligned else None
        threshold: int | None
        if bound is not None:
            # No data read for these: every row group's row, null and version statistics.
            threshold, found = bound[0], Counter(bound[1])
        else:
            # One scan of the small columns: counts per model version and each version's k smallest keys.
            per_version = self.con.execute(
                f"SELECT model_version, count(*), min({key}, $k) FROM predictions WHERE {where} GROUP BY 1",
                {**params, "k": self.k},
            ).fetchall()
            found = Counter({str(v if v is not None else "unknown"): int(n) for v, n, _ in per_version})
            keys = sorted(x for _, _, smallest in per_version for x in smallest)
            threshold = keys[min(self.k, len(keys)) - 1] if keys else None
        if best is not None and best.num_rows >= self.k:
            # Only a key under the k-th kept so far can enter the sample.
            kth = best.column(SAMPLE_ORDER)[self.k - 1].as_py()
            threshold = kth if threshold is None else min(threshold, kth)
        if threshold is None:
            return found, best
        features = [n for n in feature_names if n in self.columns]
        selected = ", ".join(f'"{c}"' for c in (*OUTPUTS, *features))
        # The filter reaches DuckDB's Parquet reader: in files sorted by key, row groups above it are skipped.
        rows = self.con.sql(
            f"SELECT {selected}, CAST({key} AS BIGINT) AS {SAMPLE_ORDER} FROM predictions "
            f"WHERE {where} AND {key} <= $threshold ORDER BY {SAMPLE_ORDER}, prediction_id LIMIT $k",
            params={**params, "k": self.k, "threshold": threshold},
        ).to_arrow_table()
        if best is None:
            return found, rows
        merged = pa.concat_tables([best, rows], promote_options="permissive")
        return found, merged.sort_by([(SAMPLE_ORDER, "ascending"), ("prediction_id", "ascending")]).slice(0, self.k)


LABELLED_COLUMNS = (
    "prediction_id",
    "ts",
    "probability_good_credit",
    "prediction",
    "decision",
    "model_version",
    "outcome",
    "outcome_observed_at",
)


def _empty_labelled(feature_names: list[str]) -> Any:
    import pyarrow as pa

    return pa.table({n: pa.array([], pa.string()) for n in (*LABELLED_COLUMNS, *feature_names)})


def _hour_of(path: str) -> datetime | None:
    """The hour of a Hive-partitioned path (dt=YYYY-MM-DD/hour=HH), None when it names none."""
    parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
    try:
        return datetime.fromisoformat(f"{parts['dt']}T{int(parts['hour']):02d}:00:00+00:00")
    except (KeyError, ValueError):
        return None


def _hour_in(path: str, start: datetime, end: datetime) -> bool:
    """True when a Hive-partitioned path (dt=YYYY-MM-DD/hour=HH) is an hour of [start, end)."""
    hour = _hour_of(path)
    if hour is None:
        return True  # not an hour's object: read it, and fail on it if it is not one of ours
    return hour_floor(start) <= hour < end and hour + HOUR > start


def _bound_from_statistics(footers: list[Any], k: int) -> tuple[int, dict[str, int]] | None:
    """A key bound under which the window's k smallest scored keys lie, and the scored count per version.

    From the footers alone: a row group's scored rows are its rows less the probability's nulls, all
    with keys within its min and max. Groups taken by ascending max until they hold k scored rows
    bound the k smallest keys. None when a statistic is missing or a row group mixes model versions.
    """
    groups: list[tuple[int, int]] = []  # (max key, scored rows)
    versions: Counter[str] = Counter()
    for md in footers:
        names = md.schema.names
        if not {"sample_key", "probability_good_credit", "model_version"} <= set(names):
            return None
        ki, pi, vi = (names.index(n) for n in ("sample_key", "probability_good_credit", "model_version"))
        for g in range(md.num_row_groups):
            group = md.row_group(g)
            ks, ps, vs = (group.column(i).statistics for i in (ki, pi, vi))
            if ks is None or ps is None or vs is None or not ks.has_min_max or ps.null_count is None:
                return None
            scored = group.num_rows - ps.null_count
            if scored == 0:
                continue
            if not vs.has_min_max or vs.min != vs.max or vs.null_count:
                return None
            versions[str(vs.min)] += scored
            groups.append((int(ks.max), scored))
    if not groups:
        return None
    groups.sort()
    total = 0
    for high, scored in groups:
        total += scored
        if total >= k:
            return high, dict(versions)
    return groups[-1][0], dict(versions)
