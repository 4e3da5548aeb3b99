"""The latest drift report of a stack, with a fresh link: for the person whose Slack link has expired."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class NoReport(Exception):
    """The bucket holds no drift report (yet), or not the one asked for."""


def latest(s3: Any, bucket: str, prefix: str = "drift") -> dict[str, Any]:
    """The summary the latest pointer names (the drift job's JSON summary)."""
    pointer = _json(s3, bucket, f"{prefix}/latest.json", "no drift report yet")
    return _json(s3, bucket, pointer["summary_key"], "the latest pointer names a missing summary")


def summary_at(s3: Any, bucket: str, summary_key: str) -> dict[str, Any]:
    """One report's summary, by its key."""
    return _json(s3, bucket, summary_key, "no such summary")


def fresh_link(s3: Any, bucket: str, html_key: str, expires_s: int) -> str:
    """A new pre-signed GET link to the report, signed with the caller's credentials."""
    s3.head_object(Bucket=bucket, Key=html_key)  # a link to nothing helps no one
    return str(s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": html_key}, ExpiresIn=expires_s))


def download(s3: Any, bucket: str, summary: dict[str, Any], directory: Path) -> Path:
    """Save a report's HTML and JSON summary under directory, named after its window; the HTML's path."""
    folder = Path(summary["report_html_key"]).parent  # .../<start>_<end>/run-<time>-<hex>/report.html
    stem = f"{folder.parent.name}_{folder.name}" if folder.name.startswith("run-") else folder.name
    directory.mkdir(parents=True, exist_ok=True)
    html = directory / f"drift-{stem}.html"
    html.write_bytes(s3.get_object(Bucket=bucket, Key=summary["report_html_key"])["Body"].read())
    (directory / f"drift-{stem}.json").write_bytes(
        s3.get_object(Bucket=bucket, Key=summary["summary_key"])["Body"].read()
    )
    return html


def list_runs(s3: Any, bucket: str, prefix: str = "drift", limit: int = 20) -> list[dict[str, Any]]:
    """The latest `limit` runs' summaries, oldest first: keys sort by window then run, so reruns sit together."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/reports/"):
        keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/summary.json"))
    runs = []
    for key in sorted(keys)[-limit:]:
        summary = _json(s3, bucket, key, "a summary vanished while listing")
        folder = Path(key).parent
        summary["run_id"] = folder.name if folder.name.startswith("run-") else None
        runs.append(summary)
    return runs


def revoke(ssm: Any, parameter: str, report_id: str) -> list[str]:
    """Add report_id to the deny-list parameter (a StringList); the revoked ids, sorted."""
    from creditwatch_common.reports import NO_REVOKED_REPORTS, is_report_id, revoked_ids

    if not is_report_id(report_id):
        raise ValueError(f"not a report id: {report_id!r} (the drift summary's report_id, or the link's path)")
    current = revoked_ids(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
    ids = sorted(current | {report_id})
    ssm.put_parameter(Name=parameter, Value=",".join(ids) or NO_REVOKED_REPORTS, Type="StringList", Overwrite=True)
    return ids


def _json(s3: Any, bucket: str, key: str, missing: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise NoReport(f"{missing}: s3://{bucket}/{key}") from None
    value: dict[str, Any] = json.loads(body)
    return value


# ---------------------------------------------------------------------------- the report history


@dataclass(frozen=True)
class SavedIndex:
    """The history's page saved locally, and how many reports it lists and links to local copies of."""

    path: Path
    entries: int
    copied: int
    linked: int


def save_index(
    s3: Any,
    bucket: str,
    path: Path,
    copies: int = 50,
    prefix: str = "history",
    registry_bucket: str | None = None,
) -> SavedIndex:
    """Render the bucket's history into path, the newest `copies` reports saved beside it and linked relatively.

    The page in the bucket links through token links (a deployed API); a saved page links to files, so it
    works offline, from a laptop or an archive. A report already saved is not fetched again. With a
    registry bucket, the charts mark the champion's moves.
    """
    from creditwatch_analytics.history import HistoryStore
    from creditwatch_analytics.history_moves import read_champion_moves
    from creditwatch_analytics.history_page import render_index
    from creditwatch_common.ids import iso_utc

    entries, _ = HistoryStore(s3=s3, bucket=bucket, prefix=prefix).entries()
    if not entries:
        raise NoReport(
            f"no report history yet in s3://{bucket}/{prefix}/: run a job, or "
            "`creditwatch report index --rebuild` for reports written before the history"
        )
    folder = path.parent / "history"
    folder.mkdir(parents=True, exist_ok=True)
    links, copied = {}, 0
    for entry in [e for e in entries if e.report_html_key][:copies]:
        target = folder / f"{entry.report_id}.html"
        if not target.exists():
            try:
                body = s3.get_object(Bucket=bucket, Key=entry.report_html_key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue  # expired with the bucket's lifecycle: listed, not linked
            target.write_bytes(body)
            copied += 1
        links[entry.report_id] = f"history/{target.name}"
    note = (
        f"Report links open the copies saved beside this page (the newest {len(links)}); "
        "others: creditwatch report show --summary-key <key>."
    )
    champion = read_champion_moves(s3, registry_bucket) if registry_bucket else None
    page = render_index(entries, links, generated_at=iso_utc(datetime.now(UTC)), note=note, champion=champion)
    path.write_bytes(page)
    return SavedIndex(path=path, entries=len(entries), copied=copied, linked=len(links))


def summary_keys(s3: Any, bucket: str, prefixes: tuple[str, ...] = ("drift", "quality")) -> list[str]:
    """Every report summary's key under the kinds' prefixes."""
    keys: list[str] = []
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/reports/"):
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/summary.json"))
    return sorted(keys)


def rebuild_history(
    s3: Any,
    bucket: str,
    publisher: Any | None,
    link_seconds: int = 604_800,
    progress: Callable[[int, int], None] | None = None,
    registry_bucket: str | None = None,
) -> dict[str, int]:
    """Recreate the history's entries and ledger from every summary in the bucket.

    The index is rewritten too when a publisher that mints the deployed links is given; else by the next job
    run. `progress(summaries read, summaries)`.
    """
    from creditwatch_analytics.history import HistoryStore, rebuild, report_links
    from creditwatch_analytics.history_moves import read_champion_moves
    from creditwatch_analytics.history_page import render_index
    from creditwatch_common.ids import iso_utc
    from creditwatch_common.reports import Publisher

    keys = summary_keys(s3, bucket)
    added = rebuild(Publisher(s3=s3, bucket=bucket), keys, progress=progress)
    store = HistoryStore(s3=s3, bucket=bucket)
    now = datetime.now(UTC)
    if publisher is not None:
        champion = read_champion_moves(s3, registry_bucket) if registry_bucket else None

        def render(entries: list[Any]) -> bytes:
            links = report_links(publisher, entries, link_seconds, now.timestamp())
            expires = int(now.timestamp()) + link_seconds
            return render_index(entries, links, generated_at=iso_utc(now), links_expire_at=expires, champion=champion)

        entries = store.update(render).entries
    else:
        listed, _ = store.entries()
        store.write_ledger(listed)
        entries = len(listed)
    return {"summaries": len(keys), "added": added, "entries": entries, "index_rewritten": int(publisher is not None)}
