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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.reports import (
    INDEX_ID,
    REPORT_ID,
    Link,
    Publisher,
    ReportKind,
    SignerUnavailable,
    mint_token,
)

HISTORY_PREFIX = "history"
# Reads of entries the ledger lacks, in parallel; normally one (the run's own), all of them on a rebuild.
READ_WORKERS = 8


class Estimate(BaseModel):
    """A figure with its 95% interval."""

    model_config = ConfigDict(extra="ignore")

    value: float | None = None
    low: float | None = None
    high: float | None = None


class RatioPoint(BaseModel):
    """One protected attribute's disparate impact ratio in one run."""

    attribute: str
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    judged: bool = False
    alert: bool = False


class HistoryEntry(BaseModel):
    """What the index shows of one report: its verdicts and the figures of the trend charts."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1] = 1
    kind: ReportKind
    report_id: str
    report_html_key: str | None = None
    summary_key: str | None = None
    window_start: str
    window_end: str
    generated_at: str
    environment: str | None = None
    model_version: str | None = None
    status: str = "ok"
    # drift: "drift" | "no_drift"; quality: the quality verdict (ok, degraded, insufficient_labels, no_data).
    verdict: str
    message: str = ""
    rows: int | None = None
    # Drift figures.
    drift_share: float | None = None
    drift_threshold: float | None = None
    drifted_features: list[str] = []
    attribution_ndcg: float | None = None
    attribution_threshold: float | None = None
    attribution_drifted: bool | None = None
    score_psi: float | None = None
    score_psi_band: str | None = None
    approval_rate: float | None = None
    approval_rate_reference: float | None = None
    disparate_impact: list[RatioPoint] = []
    fairness_alerts: list[str] = []
    # Quality figures (the realized ones need outcomes); drift runs carry the estimate alone.
    reasons: list[str] = []
    label_coverage: float | None = None
    auc_realized: Estimate | None = None
    auc_estimated: Estimate | None = None
    auc_validation: float | None = None
    estimate_holds: bool | None = None

    @property
    def key(self) -> str:
        """The entry's name under entries/: sorts by generation time, unique by report id."""
        return f"{_compact(self.generated_at)}.{self.report_id}.json"


def _compact(stamp: str) -> str:
    return "".join(c for c in stamp if c not in "-:")


def _f(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _estimate(value: Any) -> Estimate | None:
    if not isinstance(value, Mapping) or _f(value.get("value")) is None:
        return None
    return Estimate.model_validate(value)


class NotAnEntry(ValueError):
    """A summary the history cannot record (no report, or not a known kind)."""


def entry_from_summary(summary: Mapping[str, Any]) -> HistoryEntry:
    """The history entry of a published report's JSON summary (drift or quality); NotAnEntry if it has none."""
    report_id = summary.get("report_id")
    if not isinstance(report_id, str) or not REPORT_ID.fullmatch(report_id):
        raise NotAnEntry(f"no report id in the summary ({summary.get('status')})")
    kind = summary.get("kind") or ("quality" if report_id.startswith("quality.") else "drift")
    try:
        return _quality_entry(summary, report_id) if kind == "quality" else _drift_entry(summary, report_id)
    except (ValidationError, KeyError, TypeError) as exc:
        raise NotAnEntry(f"summary of {report_id} lacks what the history needs ({type(exc).__name__})") from None


def _common(summary: Mapping[str, Any], report_id: str) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "report_html_key": summary.get("report_html_key"),
        "summary_key": summary.get("summary_key"),
        "generated_at": summary["generated_at"],
        "environment": summary.get("environment"),
        "model_version": summary.get("model_version"),
        "status": summary.get("status") or "ok",
        "message": summary.get("message") or "",
    }


def _drift_entry(s: Mapping[str, Any], report_id: str) -> HistoryEntry:
    attribution = s.get("attribution") or {}
    stability = s.get("stability") or {}
    outputs = s.get("outputs") or {}
    fairness = s.get("fairness") or {}
    estimated = s.get("estimated_quality") or {}
    ratios = []
    for a in fairness.get("attributes") or []:
        cur = a.get("current") or {}
        interval = cur.get("ratio_interval") or (None, None)
        ratios.append(
            RatioPoint(
                attribute=a["attribute"],
                ratio=_f(cur.get("disparate_impact_ratio")),
                low=_f(interval[0]),
                high=_f(interval[1]),
                judged=bool(cur.get("judged")),
                alert=bool(a.get("alert")),
            )
        )
    approval = _f(stability.get("approval_rate_current"))
    if approval is None:
        approval = _f(outputs.get("approval_share_current"))
    reference = _f(stability.get("approval_rate_reference"))
    return HistoryEntry(
        kind="drift",
        window_start=s["window_start"],
        window_end=s["window_end"],
        verdict="drift" if s.get("dataset_drift") else "no_drift",
        rows=s.get("rows_used"),
        drift_share=_f(s.get("drift_share")),
        drift_threshold=_f(s.get("threshold")),
        drifted_features=[str(f) for f in s.get("drifted_features") or []],
        attribution_ndcg=_f(attribution.get("ndcg")),
        attribution_threshold=_f(attribution.get("threshold")),
        attribution_drifted=attribution.get("drifted") if attribution else None,
        score_psi=_f((stability.get("score") or {}).get("psi")),
        score_psi_band=(stability.get("score") or {}).get("band"),
        approval_rate=approval,
        approval_rate_reference=reference if reference is not None else _f(outputs.get("approval_share_reference")),
        disparate_impact=ratios,
        fairness_alerts=[r.attribute for r in ratios if r.alert],
        auc_estimated=_estimate(estimated.get("auc")),
        auc_validation=_f(estimated.get("validation_auc")),
        estimate_holds=estimated.get("holds") if estimated else None,
        **_common(s, report_id),
    )


def _quality_entry(s: Mapping[str, Any], report_id: str) -> HistoryEntry:
    cohort = s.get("cohort") or {}
    realized = s.get("realized") or {}
    estimated = s.get("estimated") or {}
    validation = s.get("validation") or {}
    fairness = s.get("fairness") or {}
    # Outcome fairness (issue 14.2): an attribute pages where the quality job says so.
    alerts = [str(k) for k, v in fairness.items() if isinstance(v, Mapping) and v.get("alert")]
    approval = _estimate(realized.get("approval_rate")) or _estimate(estimated.get("approval_rate"))
    return HistoryEntry(
        kind="quality",
        window_start=cohort.get("start") or s["window_start"],
        window_end=cohort.get("end") or s["window_end"],
        verdict=str(s.get("verdict") or "unknown"),
        rows=s.get("rows"),
        reasons=[str(r) for r in s.get("reasons") or []],
        label_coverage=_f(s.get("label_coverage")),
        auc_realized=_estimate(realized.get("auc")),
        auc_estimated=_estimate(estimated.get("auc")),
        auc_validation=_f((validation.get("auc") or {}).get("value")),
        approval_rate=approval.value if approval else None,
        fairness_alerts=alerts,
        **_common(s, report_id),
    )


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
    summary: Mapping[str, Any],
    *,
    link_seconds: int,
    prefix: str = HISTORY_PREFIX,
    now: datetime | None = None,
) -> HistoryResult:
    """Record a published report's summary (drift or quality) and rewrite the index from the whole history.

    Call it after `Publisher.publish` succeeded. Raises on failure (the caller logs it and counts it:
    the report is published either way, and the next run's update shows this entry too).
    """
    from creditwatch_analytics.history_page import render_index

    now = now or datetime.now(UTC)
    store = HistoryStore(s3=publisher.s3, bucket=publisher.bucket, prefix=prefix)
    recorded = store.add(entry_from_summary(summary))
    expires_at = int(now.timestamp()) + link_seconds

    def render(entries: list[HistoryEntry]) -> bytes:
        links = report_links(publisher, entries, link_seconds, now.timestamp())
        return render_index(entries, links, generated_at=iso_utc(now), links_expire_at=expires_at)

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


def record_run(
    publisher: Publisher, summary: Mapping[str, Any], *, link_seconds: int, prefix: str = HISTORY_PREFIX
) -> str | None:
    """Add a published report to the history: None when done, else the warning the (intact) run carries."""
    try:
        update_history(publisher, summary, link_seconds=link_seconds, prefix=prefix)
    except Exception as exc:  # noqa: BLE001 - the report is published; the next run's update adds it
        return (
            f"report history not updated ({type(exc).__name__}: {error_code(exc)}); "
            "the report is published and the next run's update lists it"
        )
    return None
