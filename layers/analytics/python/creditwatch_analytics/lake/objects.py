"""The lake's one read path: the objects of some hours, fetched whole, read by DuckDB's own Parquet reader.

Every reader goes this way (the drift window, the quality cohort, `creditwatch lake query`): list the
hours' objects, GET each whole (16 at a time), check its footer from the bytes (Parquet, a schema version
this code reads: else a LakeError naming the key), keep it in memory (up to IN_MEMORY_BYTES a read,
served to DuckDB by an fsspec filesystem of the read's own) or else write it to a temporary folder, and
let DuckDB read the objects as views. Why, measured by bench/window_bench.py and written down in
docs/develop.md: the counts read most columns of every record, so a GET per column chunk (what a pyarrow
dataset scan issues) costs more than the bytes it skips; from memory a day reads faster than from /tmp.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from creditwatch_analytics.lake.export import HOUR, hour_floor
from creditwatch_analytics.lake.schema import LakeError, not_parquet

FETCH_THREADS = 16
# Objects of one read held in memory at most (a day at 1,000 requests a minute is ~100 MB): served to
# DuckDB from memory, which measured faster than writing them to /tmp first (docs/develop.md); a bigger
# read goes to the local folder instead, so memory never holds more than this of a window.
IN_MEMORY_BYTES = 256 << 20
OBJECTS_PROTOCOL = "creditwatch-lake"


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


@dataclass(frozen=True)
class Fetched:
    """Objects in a local folder: their files (in key order), every column any of them holds, their footers."""

    files: list[str]
    columns: frozenset[str]
    footers: list[Any] = field(default_factory=list)  # pyarrow.parquet.FileMetaData, read from the bytes


@dataclass
class LakeObjects:
    """The bucket's objects under a prefix, through a pyarrow FileSystem (S3, or local files for a saved lake)."""

    filesystem: Callable[[], Any]  # a pyarrow FileSystem, built on first use
    bucket: str
    _fs: Any = field(default=None, init=False, repr=False)

    @property
    def fs(self) -> Any:
        """The filesystem."""
        if self._fs is None:
            self._fs = self.filesystem()
        return self._fs

    def files(self, prefix: str, start: datetime | None = None, end: datetime | None = None) -> list[Any]:
        """FileInfos of the hours [start, end) under prefix (or all), in key order: a day's folder listed at a time."""
        from pyarrow import fs as pafs

        root = f"{self.bucket}/{prefix}"
        dirs = [root]
        if start is not None and end is not None:
            day, last = hour_floor(start).date(), (end - timedelta(milliseconds=1)).date()
            dirs = []
            while day <= last:
                dirs.append(f"{root}/dt={day.isoformat()}")
                day += timedelta(days=1)
        found = []
        for d in dirs:
            for info in self.fs.get_file_info(pafs.FileSelector(d, recursive=True, allow_not_found=True)):
                if info.type != pafs.FileType.File or info.base_name.startswith(("_", ".")):
                    continue
                if start is not None and end is not None and not hour_in(info.path, start, end):
                    continue
                found.append(info)
        return sorted(found, key=lambda info: info.path)

    def footer(self, info: Any) -> Any:
        """One object's Parquet footer, read without its data."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            with self.fs.open_input_file(info.path) as f:
                return pq.read_metadata(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise not_parquet(info.path.split("/", 1)[1], exc) from exc

    def fetch(self, infos: list[Any], check: Callable[[Any, str], int], folder: str, memory: Any = None) -> Fetched:
        """Each object GET whole, its footer checked from the bytes, put in `memory` (memory_objects) or folder."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        need = sum(info.size or 0 for info in infos)
        free = shutil.disk_usage(folder).free
        if memory is None and need > free:
            raise LakeError(
                f"the window's {len(infos)} objects hold {need / 2**20:,.0f} MB, more than the {free / 2**20:,.0f} MB "
                f"free in {folder}: read it through Athena (ANALYTICS_ENGINE=athena or auto)"
            )

        def one(job: tuple[int, Any]) -> tuple[str, Any]:
            i, info = job
            key = info.path.split("/", 1)[1]
            with self.fs.open_input_file(info.path) as f:
                body = f.read()
            try:
                footer = pq.read_metadata(pa.BufferReader(body))
            except (pa.ArrowInvalid, OSError) as exc:
                raise not_parquet(key, exc) from exc
            check(footer.metadata, key)
            path = os.path.join(folder, f"{i:06d}.parquet")
            if memory is not None:
                memory.objects[path.lstrip("/")] = body
                return f"{OBJECTS_PROTOCOL}://{path.lstrip('/')}", footer
            with open(path, "wb") as out:
                out.write(body)
            return path, footer

        if not infos:
            return Fetched([], frozenset())
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(infos))) as pool:
            done = list(pool.map(one, enumerate(infos)))
        columns = frozenset(c for _, footer in done for c in footer.schema.to_arrow_schema().names)
        return Fetched([p for p, _ in done], columns, [footer for _, footer in done])


def memory_objects() -> Any:
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


@contextmanager
def local_folder() -> Iterator[str]:
    """A temporary folder (under /tmp in Lambda: its EphemeralStorage) removed with what was fetched into it."""
    with tempfile.TemporaryDirectory(prefix="creditwatch-lake-") as folder:
        yield folder


def parquet_view(con: Any, name: str, fetched: Fetched, nulls: dict[str, str] | None = None) -> None:
    """The view `name` over the fetched files (schemas unified by name); `nulls` adds absent columns as typed nulls."""
    extra = "".join(f', NULL::{t} AS "{c}"' for c, t in (nulls or {}).items() if c not in fetched.columns)
    files = ", ".join("'" + p.replace("'", "''") + "'" for p in fetched.files)
    con.execute(f"CREATE VIEW {name} AS SELECT *{extra} FROM read_parquet([{files}], union_by_name = true)")


def hour_of(path: str) -> datetime | None:
    """The hour of a Hive-partitioned path (dt=YYYY-MM-DD/hour=HH), None when it names none."""
    parts = dict(p.split("=", 1) for p in path.split("/") if "=" in p)
    try:
        return datetime.fromisoformat(f"{parts['dt']}T{int(parts['hour']):02d}:00:00+00:00")
    except (KeyError, ValueError):
        return None


def hour_in(path: str, start: datetime, end: datetime) -> bool:
    """True when a Hive-partitioned path (dt=YYYY-MM-DD/hour=HH) is an hour of [start, end)."""
    hour = hour_of(path)
    if hour is None:
        return True  # not an hour's object: read it, and fail on it if it is not one of ours
    return hour_floor(start) <= hour < end and hour + HOUR > start
