"""One window source for every job: engine `dynamodb` (the table's reader) or `lake` (Parquet in S3, DuckDB).

Each engine returns the same thing for a window: the bottom-k uniform sample on the ids (the same
records whichever engine, see creditwatch_common.sampling), how many scored records the window holds
and their model versions. `auto` reads the hours the lake holds completely from the lake and the rest
(the current hour, or all of it when the lake does not reach back to the window's start) from the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from creditwatch_common.lake.export import DEFAULT_PREFIX, HOUR, Watermark, hour_floor, read_watermark
from creditwatch_common.lake.schema import LakeError, check_version, scored_rows
from creditwatch_common.log.reader import LogReader
from creditwatch_common.records import ScoredRow
from creditwatch_common.sampling import bottom_k, sample_mask, sorted_by_key

Engine = Literal["auto", "dynamodb", "lake"]
OUTPUTS = ("prediction_id", "probability_good_credit", "decision", "model_version")


@dataclass
class WindowSample:
    """A window's uniform sample (in sample-key order), its scored record count and who read it."""

    rows: list[ScoredRow]
    rows_read: int
    model_versions: dict[str, int]
    engine: str
    engine_rows: dict[str, int] = field(default_factory=dict)


class WindowSource(Protocol):
    """Reads the scored records of a window."""

    engine: str

    def scored_sample(self, start: datetime, end: datetime, k: int, seed: int = 0) -> WindowSample:
        """The k records of smallest sample key among the scored records of [start, end), and their count."""
        ...


@dataclass
class DynamoWindow:
    """The prediction log's table, read by Query per day and shard (today's reader)."""

    reader: LogReader
    engine: str = "dynamodb"

    def scored_rows(self, start: datetime, end: datetime) -> Iterator[ScoredRow]:
        """Every scored record of [start, end), streamed."""
        return self.reader.query_window(start, end, ScoredRow, scored_only=True)

    def scored_sample(self, start: datetime, end: datetime, k: int, seed: int = 0) -> WindowSample:
        """Streamed into the bottom-k sample: memory holds k records, however large the window."""
        rows, n, versions = bottom_k(self.scored_rows(start, end), k, seed)
        return WindowSample(rows, n, dict(versions), self.engine, {self.engine: n})


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

    def objects(self, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """Paths (bucket/key) of every object of the hours [start, end), or of the whole lake."""
        from pyarrow import fs as pafs

        root = f"{self.bucket}/{self.prefix}"
        if start is None or end is None:
            dirs = [root]
        else:
            day, last = hour_floor(start).date(), (end - timedelta(milliseconds=1)).date()
            dirs = []
            while day <= last:
                dirs.append(f"{root}/dt={day.isoformat()}")
                day += timedelta(days=1)
        paths = []
        for d in dirs:
            for info in self.fs.get_file_info(pafs.FileSelector(d, recursive=True, allow_not_found=True)):
                if info.type != pafs.FileType.File or info.base_name.startswith(("_", ".")):
                    continue
                if start is not None and end is not None and not _hour_in(info.path, start, end):
                    continue
                paths.append(info.path)
        return sorted(paths)

    def dataset(self, paths: list[str]) -> Any:
        """One dataset over the objects: each footer checked first, schemas unified (a new model's extra column)."""
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        schemas = []
        for path in paths:
            key = path.split("/", 1)[1]
            try:
                schema = pq.read_schema(path, filesystem=self.fs)
            except (pa.ArrowInvalid, OSError) as exc:
                raise LakeError(f"s3 object {key}: not a valid Parquet file ({exc})") from exc
            check_version(schema.metadata, key)
            schemas.append(schema.remove_metadata())
        if not schemas:
            return None
        return ds.dataset(paths, filesystem=self.fs, format="parquet", schema=pa.unify_schemas(schemas))

    def connect(self, start: datetime | None = None, end: datetime | None = None) -> Any:
        """A DuckDB connection with the view `predictions` over the hours [start, end) (or the whole lake)."""
        import duckdb

        con = duckdb.connect()
        dataset = self.dataset(self.objects(start, end))
        if dataset is None:
            con.execute("CREATE VIEW predictions AS SELECT NULL::VARCHAR AS prediction_id WHERE false")
        else:
            con.register("predictions", dataset)
        return con

    def scored_sample(self, start: datetime, end: datetime, k: int, seed: int = 0) -> WindowSample:
        """The bottom-k sample and the counts, computed in SQL over the window's hours."""
        con = self.connect(start, end)
        try:
            columns = {d[0] for d in con.execute("SELECT * FROM predictions LIMIT 0").description or []}
            if "ts" not in columns:
                return WindowSample([], 0, {}, self.engine, {self.engine: 0})
            where = "ts >= $start AND ts < $end AND probability_good_credit IS NOT NULL"
            params = {"start": start, "end": end}
            versions = {
                str(v if v is not None else "unknown"): int(n)
                for v, n in con.execute(
                    f"SELECT model_version, count(*) FROM predictions WHERE {where} GROUP BY 1", params
                ).fetchall()
            }
            features = [n for n in self.feature_names if n in columns]
            selected = ", ".join(f'"{c}"' for c in (*OUTPUTS, *features))
            # The same key as sampling.sample_key: the id's last 12 hex digits XOR the seed's mask.
            table = con.sql(
                f"SELECT {selected} FROM predictions WHERE {where} "
                "ORDER BY xor(('0x' || right(prediction_id, 12))::UBIGINT, $mask::UBIGINT), prediction_id "
                "LIMIT $k",
                params={**params, "mask": sample_mask(seed), "k": k},
            ).to_arrow_table()
        finally:
            con.close()
        n = sum(versions.values())
        return WindowSample(scored_rows(table, features), n, versions, self.engine, {self.engine: n})

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Any SQL over the view `predictions` (the whole lake): column names and rows."""
        con = self.connect()
        try:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return names, cursor.fetchall()
        finally:
            con.close()


@dataclass
class AutoWindow:
    """The lake for the hours it holds completely, the table for the rest (or for all when it has no lake)."""

    dynamodb: DynamoWindow
    lake: LakeWindow | None
    engine: str = "auto"

    def scored_sample(self, start: datetime, end: datetime, k: int, seed: int = 0) -> WindowSample:
        """Bottom-k of the union is the bottom-k of the two parts' bottom-k: exact, whatever the split."""
        mark = self.lake.watermark() if self.lake is not None else None
        if self.lake is None or mark is None or not (mark.first_hour <= start < mark.complete_through):
            return self.dynamodb.scored_sample(start, end, k, seed)
        split = min(end, mark.complete_through)
        old = self.lake.scored_sample(start, split, k, seed)
        if split >= end:
            return old
        new = self.dynamodb.scored_sample(split, end, k, seed)
        versions = Counter(old.model_versions) + Counter(new.model_versions)
        return WindowSample(
            rows=sorted_by_key([*old.rows, *new.rows], sample_mask(seed))[:k],
            rows_read=old.rows_read + new.rows_read,
            model_versions=dict(versions),
            engine="lake+dynamodb",
            engine_rows={"lake": old.rows_read, "dynamodb": new.rows_read},
        )


def window_source(engine: Engine, dynamodb: DynamoWindow, lake: LakeWindow | None) -> WindowSource:
    """The source an engine setting names; `lake` without a lake bucket is an error."""
    if engine == "dynamodb":
        return dynamodb
    if engine == "lake":
        if lake is None:
            raise ValueError("ANALYTICS_ENGINE=lake needs LAKE_BUCKET")
        return lake
    return AutoWindow(dynamodb, lake)


def _hour_in(path: str, start: datetime, end: datetime) -> bool:
    """True when a Hive-partitioned path (dt=YYYY-MM-DD/hour=HH) is an hour of [start, end)."""
    parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
    try:
        hour = datetime.fromisoformat(f"{parts['dt']}T{int(parts['hour']):02d}:00:00+00:00")
    except (KeyError, ValueError):
        return True  # not an hour's object: read it, and fail on it if it is not one of ours
    return hour_floor(start) <= hour < end and hour + HOUR > start
