"""The local stack's lake for the CLI and the demo: export recent hours, keep a copy, query it with DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from creditwatch.local import stack
from creditwatch.local.template import Template

# Where a stack's lake is copied when it stops (the demo's): `lake query` reads it when no stack runs.
SAVED_LAKE = "lake"


def exporter(endpoint: str) -> Any:
    """The LakeExporter of the local stack at endpoint (what the hourly LakeExportFunction runs)."""
    from creditwatch_analytics.lake.export import LakeExporter
    from creditwatch_analytics.lake.schema import LakeSchema, feature_schema
    from creditwatch_common.log import PredictionLog
    from creditwatch_common.log.pending import PendingHours

    template = Template(endpoint=endpoint)
    log = PredictionLog(
        dynamodb=stack.boto_client("dynamodb", endpoint),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        sqs=stack.boto_client("sqs", endpoint),
        spill_queue_url=template.ref("SpillQueue"),
    )
    return LakeExporter(
        reader=log,
        s3=stack.boto_client("s3", endpoint),
        bucket=template.ref("LakeBucket"),
        schema=LakeSchema.of(feature_schema().features),
        ttl_days=int(template.parameters["PredictionTtlDays"]),
        rejected_ttl_days=int(template.parameters["RejectedTtlDays"]),
        pending=PendingHours(log.dynamodb, log.table),
    )


def backfill(endpoint: str, start: datetime, end: datetime, progress: Callable[[int, int], None] | None = None) -> Any:
    """Write every hour of [start, end) of the local stack's table to its lake, simulated days past the TTL too.

    What `creditwatch lake export --backfill --start --end` runs (creditwatch_analytics/lake/backfill.py
    says which hours the table's TTL lets it write); `progress(days done, days)`.
    """
    from creditwatch_analytics.lake.backfill import backfill as backfill_days

    return backfill_days(exporter(endpoint), start, end, progress)


def bucket(endpoint: str) -> tuple[Any, str]:
    """The S3 client and the LakeBucket of the local stack at endpoint (what `log erase` rewrites)."""
    return stack.boto_client("s3", endpoint), Template(endpoint=endpoint).ref("LakeBucket")


def window(endpoint: str) -> Any:
    """The lake of the local stack at endpoint: objects fetched whole through pyarrow's S3 (moto), DuckDB over them.

    The drift and quality jobs' read path (creditwatch_analytics.lake.objects), the views of LakeWindow.opened.
    """
    from creditwatch_analytics.lake.schema import feature_schema
    from creditwatch_analytics.lake.window import LakeWindow, s3_filesystem

    session = stack.local_session()
    return LakeWindow(
        filesystem=lambda: s3_filesystem(session, endpoint),
        s3=stack.boto_client("s3", endpoint),
        bucket=Template(endpoint=endpoint).ref("LakeBucket"),
        feature_names=feature_schema().names,
    )


def save(endpoint: str, folder: Path) -> int:
    """Copy the stack's lake objects (predictions/..., outcomes/... and reviews/...) into folder/lake; how many."""
    from concurrent.futures import ThreadPoolExecutor

    s3 = stack.boto_client("s3", endpoint, max_pool_connections=16)
    bucket = Template(endpoint=endpoint).ref("LakeBucket")
    pages = s3.get_paginator("list_objects_v2")
    keys = [
        obj["Key"]
        for prefix in ("predictions/", "outcomes/", "reviews/")
        for page in pages.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]

    def copy(key: str) -> None:
        target = folder / SAVED_LAKE / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    # In parallel: a simulated history is a thousand small hour objects, each a round trip.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(copy, keys))
    return len(keys)


def saved_window(folder: Path) -> Any:
    """A lake copied by `save`, read through the same path from local files (None when folder holds none)."""
    from pyarrow import fs as pafs

    from creditwatch_analytics.lake.schema import feature_schema
    from creditwatch_analytics.lake.window import LakeWindow

    root = folder / SAVED_LAKE
    if not (root / "predictions").is_dir():
        return None
    return LakeWindow(
        filesystem=pafs.LocalFileSystem,
        s3=None,
        bucket=str(root.resolve()),
        feature_names=feature_schema().names,
    )
