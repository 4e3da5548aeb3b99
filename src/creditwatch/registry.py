"""The CLI's side of the model registry: the local (or a deployed) registry, who moves aliases, matured outcomes."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from creditwatch.local import stack
from creditwatch.local.template import Template
from creditwatch_common.registry import ModelRegistry

# The CLI's registry calls: two attempts, short timeouts, so an unreachable bucket is one line within seconds.
CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"total_max_attempts": 2, "mode": "standard"},
    "connect_timeout": 2,
    "read_timeout": 10,
}


def local_registry(endpoint: str) -> ModelRegistry:
    """The local stack's registry (template ModelRegistryBucket on its moto server)."""
    return ModelRegistry(
        stack.boto_client("s3", endpoint, **CLIENT_CONFIG), Template(endpoint=endpoint).ref("ModelRegistryBucket")
    )


def deployed_registry(bucket: str) -> ModelRegistry:
    """A deployed stack's registry (its ModelRegistryBucketName output), with the caller's credentials."""
    import boto3
    from botocore.config import Config

    return ModelRegistry(boto3.client("s3", config=Config(**CLIENT_CONFIG)), bucket)


def who(deployed: bool) -> str:
    """Who moves an alias: the caller's AWS identity for a deployed stack, the local user otherwise."""
    if deployed:
        try:
            import boto3

            return str(boto3.client("sts").get_caller_identity()["Arn"])
        except Exception:  # noqa: BLE001 - the identity is a label here; the S3 call itself proves the access
            pass
    return f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass(frozen=True)
class _Source:
    """What creditwatch_analytics.lake.window.engine_for reads of a job's settings."""

    predictions_table: str
    log_shards: int
    lake_bucket: str | None
    lake_prefix: str = "predictions"
    analytics_engine: Literal["auto", "dynamodb", "lake", "athena"] = "auto"


def matured_outcomes(
    start: datetime,
    end: datetime,
    *,
    endpoint: str | None,
    table: str | None = None,
    lake_bucket: str | None = None,
    shards: int | None = None,
    engine: Literal["auto", "dynamodb", "lake", "athena"] = "auto",
) -> Any:
    """The window's scored predictions with their latest outcome, read as the retrain job reads them.

    The lake for the hours its watermark covers, the table for the rest (ANALYTICS_ENGINE auto, or `engine`):
    erased records are gone from both, so a training set built now cannot hold them. `table`, `lake_bucket` and
    `shards` (its LogShards) name a deployed stack's, when there is no local `endpoint`.
    """
    from creditwatch_analytics.lake.window import engine_for
    from creditwatch_analytics.training.data import build_schema, read_codes
    from creditwatch_analytics.training.retrain import read_matured
    from creditwatch_common.aws import AwsClients

    if endpoint is not None:
        template = Template(endpoint=endpoint)
        source = _Source(
            template.ref("PredictionsTable"),
            int(template.parameters["LogShards"]),
            template.ref("LakeBucket"),
            analytics_engine=engine,
        )
        clients = AwsClients(session=stack.local_session(), endpoint_url=endpoint)
    else:
        assert table is not None and shards is not None
        source = _Source(table, shards, lake_bucket, analytics_engine=engine)
        clients = AwsClients()
    with _lake_endpoint(endpoint):
        return read_matured(engine_for(source, clients, list(build_schema(read_codes()).names)), start, end)


@contextlib.contextmanager
def _lake_endpoint(endpoint: str | None) -> Iterator[None]:
    """The local endpoint for pyarrow's S3 client, which reads it from the environment (engine_for)."""
    saved = os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL_S3", None)
        else:
            os.environ["AWS_ENDPOINT_URL_S3"] = saved


def bootstrap_local(endpoint: str) -> Any:
    """The layer's model as the local registry's first champion (`local up`); None when it has a champion."""
    from creditwatch_analytics.model_lifecycle import bootstrap_champion
    from creditwatch_model import model_dir

    registry = local_registry(endpoint)
    if registry.alias("champion") is not None:
        return None
    return bootstrap_champion(registry, _layer_card(), model_dir(), who(False))


def _layer_card() -> Any:
    """The layer's card, kept in .creditwatch/cache by its metadata's hash: computing it imports scikit-learn (~3 s)."""
    from datetime import UTC, datetime

    from creditwatch.paths import ROOT
    from creditwatch_common.model_card import ModelCard
    from creditwatch_common.registry import sha256_file
    from creditwatch_model import METADATA_FILE, model_dir

    cached = ROOT / ".creditwatch" / "cache" / f"layer-card-{sha256_file(model_dir() / METADATA_FILE)[:16]}.json"
    if cached.exists():
        card = ModelCard.model_validate_json(cached.read_text())
    else:
        from creditwatch_analytics.training.card import layer_card

        card = layer_card(model_dir(), created_by="", why="")
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: stacks started at once (a parallel test run) never read half a card.
        part = cached.with_suffix(f".{os.getpid()}.part")
        part.write_text(card.model_dump_json())
        part.replace(cached)
    return card.model_copy(
        update={
            "created_by": who(False),
            "created_at": datetime.now(UTC),
            "why": "the model the layer ships, registered by local up",
        }
    )
