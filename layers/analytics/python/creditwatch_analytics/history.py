"""The report history: one small entry per published report, and one static index.html rebuilt from them.

Layout in the reports bucket (prefix `history` by default):

    history/entries/<generated_at>.<report_id>.json   one per report, written once (If-None-Match: *)
    history/ledger.json                                a cache of the entries the index last showed
    history/index.html                                 the page: every report newest first, trend charts

Entries are the truth and are never rewritten, so two runs finishing together cannot overwrite each
other's. The index is rebuilt from one listing of entries/, the ledger (one read) and only the entries
the ledger lacks (normally the run's own), then written with If-Match on the ETag read before the
listing: a writer whose view went stale gets 412 and starts again. After writing it lists once more
and starts again if an entry appeared that its index lacks, so the last index written holds every
entry whose run finished, even where a conditional write is not atomic (moto's is not).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from creditwatch_analytics.history_entry import (
    Estimate,
    HistoryEntry,
    NotAnEntry,
    RatioPoint,
    Summary,
    entry_from_summary,
)
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.reports import (
    INDEX_ID,
    Link,
    Publisher,
    SignerUnavailable,
    mint_token,
)

__all__ = [
    "Estimate",
    "HistoryEntry",
    "HistoryStore",
    "NotAnEntry",
    "RatioPoint",
    "entry_from_summary",
    "index_link",
    "newest_first",
    "rebuild",
    "record_run",
    "update_history",
]

HISTORY_PREFIX = "history"
# Reads of entries the ledger lacks, in parallel; normally one (the run's own), all of them on a rebuild.
READ_WORKERS = 8


# ---------------------------------------------------------------------------- the store


class HistoryConflict(Exception):
    """The index could not be written after every attempt (others kept writing it); the entry is kept."""


@dataclass(frozen=True)
class HistoryUpdate:
    """What one update wrote."""

    index_key: str
    entries: int
    attempts: int
    # Entries read one by one this time (the ledger held the rest).
    entries_read: int


@dataclass
class HistoryStore:
    """The history of one reports bucket: entries, the ledger and the index, under `prefix`."""

    s3: Any
    bucket: str
    prefix: str = HISTORY_PREFIX
    max_attempts: int = 8
    sleep: Callable[[float], None] = time.sleep

    @property
    def index_key(self) -> str:
        """Where the page is."""
        return f"{self.prefix}/index.html"

    @property
    def ledger_key(self) -> str:
        """Where the ledger (a cache of entries) is."""
        return f"{self.prefix}/ledger.json"

    def add(self, entry: HistoryEntry) -> bool:
        """Write the entry once; False when it was already there (a retried run)."""
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=f"{self.prefix}/entries/{entry.key}",
                Body=entry.model_dump_json().encode(),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except Exception as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def entry_keys(self) -> set[str]:
        """Names of every entry (one listing, 1,000 a page)."""
        names: set[str] = set()
        start = f"{self.prefix}/entries/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            names.update(o["Key"][len(start) :] for o in page.get("Contents", []) if o["Key"].endswith(".json"))
        return names

    def entries(self) -> tuple[list[HistoryEntry], int]:
        """Every entry, newest first, and how many were read one by one (not from the ledger)."""
        entries, _, read = self._snapshot()
        return entries, read

    def _snapshot(self) -> tuple[list[HistoryEntry], set[str], int]:
        """Every entry this code reads, the names listed (later versions included) and how many were read."""
        names = self.entry_keys()
        cached = {e.key: e for e in self._ledger() if e.key in names}
        missing = sorted(names - set(cached))
        with ThreadPoolExecutor(max_workers=READ_WORKERS) as pool:
            for entry in pool.map(self._read_entry, missing):
                if entry is not None:
                    cached[entry.key] = entry
        return newest_first(cached.values()), names, len(missing)

    def update(self, render: Callable[[list[HistoryEntry]], bytes]) -> HistoryUpdate:
        """Rebuild the index from every entry, conditionally on the index the rebuild started from."""
        for attempt in range(1, self.max_attempts + 1):
            etag = self._etag(self.index_key)
            entries, listed, read = self._snapshot()
            body = render(entries)
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self.index_key,
                    Body=body,
                    ContentType="text/html; charset=utf-8",
                    CacheControl="no-store",
                    **({"IfMatch": etag} if etag else {"IfNoneMatch": "*"}),
                )
            except Exception as exc:
                if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    raise
                self._backoff(attempt)
                continue
            self.write_ledger(entries)
            # Against what was listed, not shown: an entry of a later version is listed, never shown.
            if self.entry_keys() <= listed:
                return HistoryUpdate(self.index_key, len(entries), attempt, read)
            # An entry arrived while this index was built: its writer may have lost to this one.
            self._backoff(attempt)
        raise HistoryConflict(f"index not written after {self.max_attempts} attempts; the entry is kept")

    def _backoff(self, attempt: int) -> None:
        self.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))

    def _etag(self, key: str) -> str | None:
        try:
            return str(self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _ledger(self) -> list[HistoryEntry]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.ledger_key)["Body"].read()
            return [HistoryEntry.model_validate(e) for e in json.loads(body)["entries"]]
        except Exception:  # noqa: BLE001 - a missing or unreadable cache: every entry is read instead
            return []

    def write_ledger(self, entries: list[HistoryEntry]) -> None:
        """Cache the entries the index shows: the next update reads only the ones it lacks."""
        body = json.dumps({"version": 1, "entries": [e.model_dump(mode="json") for e in entries]}).encode()
        # A cache: if it is not written, the next run reads the entries it lacks.
        with contextlib.suppress(Exception):
            self.s3.put_object(Bucket=self.bucket, Key=self.ledger_key, Body=body, ContentType="application/json")

    def _read_entry(self, name: str) -> HistoryEntry | None:
        body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/entries/{name}")["Body"].read()
        try:
            return HistoryEntry.model_validate_json(body)
        except ValidationError:
            return None  # an entry of a later version: shown once this code knows it


def newest_first(entries: Iterable[HistoryEntry]) -> list[HistoryEntry]:
    """Entries by generation time, newest first (then by id, so the order is total)."""
    return sorted(entries, key=lambda e: (e.generated_at, e.report_id), reverse=True)


# ---------------------------------------------------------------------------- the job's one call


@dataclass(frozen=True)
class HistoryResult:
    """The index after a job's update."""

    index_key: str
    entries: int
    attempts: int
    recorded: bool


def index_link(publisher: Publisher, expires_in: int, prefix: str = HISTORY_PREFIX, now: float | None = None) -> Link:
    """The link that opens the index (a token link for id `index` by default), for Slack and the summary."""
    return publisher.link({"report_id": INDEX_ID, "html": f"{prefix}/index.html"}, expires_in, now=now)


def update_history(
    publisher: Publisher,
    summary: Summary | Mapping[str, Any],
    *,
    link_seconds: int,
    prefix: str = HISTORY_PREFIX,
    now: datetime | None = None,
    registry_bucket: str | None = None,
) -> HistoryResult:
    """Record a published report's summary (drift or quality) and rewrite the index from the whole history.

    Call it after `Publisher.publish` succeeded. Raises on failure (the caller logs it and counts it:
    the report is published either way, and the next run's update shows this entry too). With a
    registry bucket, the charts mark the champion's moves (read once; unreadable: the page says so).
    """
    from creditwatch_analytics.history_moves import read_champion_moves
    from creditwatch_analytics.history_page import render_index

    now = now or datetime.now(UTC)
    store = HistoryStore(s3=publisher.s3, bucket=publisher.bucket, prefix=prefix)
    recorded = store.add(entry_from_summary(summary))
    expires_at = int(now.timestamp()) + link_seconds
    champion = read_champion_moves(publisher.s3, registry_bucket) if registry_bucket else None

    def render(entries: list[HistoryEntry]) -> bytes:
        links = report_links(publisher, entries, link_seconds, now.timestamp())
        return render_index(entries, links, generated_at=iso_utc(now), links_expire_at=expires_at, champion=champion)

    update = store.update(render)
    return HistoryResult(update.index_key, update.entries, update.attempts, recorded)


def report_links(publisher: Publisher, entries: Iterable[HistoryEntry], expires_in: int, now: float) -> dict[str, str]:
    """Each report's link as the deployed index holds it: token links (the key read once), else signed links."""
    shown = [e for e in entries if e.report_html_key]
    expires_at = int(now) + expires_in
    if publisher.tokens is not None:
        try:
            key = publisher.tokens.key()
        except SignerUnavailable:
            key = None  # as for a report's own link: signed links beat none
        if key is not None:
            base = publisher.tokens.base_url.rstrip("/")
            return {
                e.report_id: f"{base}/reports/{e.report_id}?t={mint_token(key, e.report_id, expires_at)}" for e in shown
            }
    return {e.report_id: publisher.presign(e.report_html_key or "", expires_in).url for e in shown}


def rebuild(
    publisher: Publisher,
    summary_keys: Iterable[str],
    prefix: str = HISTORY_PREFIX,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the entry of every summary given (those already there are kept); how many were new.

    `progress(summaries read, summaries)` after each one.
    """
    store = HistoryStore(s3=publisher.s3, bucket=publisher.bucket, prefix=prefix)
    added = 0
    keys = list(summary_keys)
    for done, key in enumerate(keys, start=1):
        if progress is not None:
            progress(done - 1, len(keys))
        summary = json.loads(publisher.s3.get_object(Bucket=publisher.bucket, Key=key)["Body"].read())
        try:
            added += store.add(entry_from_summary(summary))
        except NotAnEntry:
            continue
    if progress is not None:
        progress(len(keys), len(keys))
    return added


class HistorySettings(Protocol):
    """What a job's settings say of its history: the links' life, the prefix, the registry whose moves it marks."""

    @property
    def link_expiry_seconds(self) -> int:
        """How long the index's links last."""

    @property
    def history_prefix(self) -> str:
        """Where the history is in the reports bucket."""

    @property
    def model_registry_bucket(self) -> str | None:
        """The registry whose champion moves the charts mark (None: no marks)."""


def record_run(publisher: Publisher, summary: Summary, settings: HistorySettings) -> None:
    """Add a published report to the history; the summary says whether it was, and why not (a warning)."""
    try:
        update_history(
            publisher,
            summary,
            link_seconds=settings.link_expiry_seconds,
            prefix=settings.history_prefix,
            registry_bucket=settings.model_registry_bucket,
        )
    except Exception as exc:  # noqa: BLE001 - the report is published; the next run's update adds it
        summary.history_updated = False
        summary.warnings.append(
            f"report history not updated ({type(exc).__name__}: {error_code(exc)}); "
            "the report is published and the next run's update lists it"
        )
        return
    summary.history_updated = True
