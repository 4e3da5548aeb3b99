"""Model versions and their aliases: `model list|show|history|train|shadow|promote|rollback|export-mlflow`."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common
from creditwatch.cli.render import model as render

if TYPE_CHECKING:
    from creditwatch_common.registry import ModelRegistry

model_app = common.sub_app(
    "Model versions in the registry: list and show them, train a challenger on matured outcomes, shadow it, "
    "promote it on evidence, roll back."
)

Bucket = Annotated[
    str | None, typer.Option(help="Deployed stack: the ModelRegistryBucketName output (default: the local stack)")
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]
Reason = Annotated[str, typer.Option("--reason", help="Why: kept in the alias history")]
# The default window of matured outcomes: predictions of the past year.
DEFAULT_DAYS = 365


def _registry(bucket: str | None) -> tuple[ModelRegistry, bool]:
    """The registry of a deployed stack (--bucket) or of the local one, and whether it is deployed."""
    from creditwatch.registry import deployed_registry, local_registry

    if bucket:
        return deployed_registry(bucket), True
    return local_registry(common.local_state().endpoint), False


def _reason(text: str) -> str:
    if not text.strip():
        common.fail("--reason is empty: say why (it is kept in the alias history)", errors.USAGE)
    return text.strip()


@model_app.command("list")
def model_list(bucket: Bucket = None, as_json: Json = False) -> None:
    """Every registered version, oldest first, with the aliases naming it."""
    registry, _ = _registry(bucket)
    cards = registry.cards()
    aliases = registry.aliases()
    rows = [render.version_row(card, aliases) for card in cards]
    if as_json:
        common.print_json(rows)
        return
    render.versions(rows, aliases)


@model_app.command("show")
def model_show(
    version: Annotated[str, typer.Argument(help="A version (creditwatch model list)")],
    bucket: Bucket = None,
    as_json: Json = False,
) -> None:
    """A version's card: training data, parameters, both holdouts' figures with intervals, fairness, provenance."""
    registry, _ = _registry(bucket)
    card = registry.card(version)
    names = sorted(name for name, move in registry.aliases().items() if move.version == version)
    if as_json:
        common.print_json({**card.model_dump(mode="json"), "aliases": names})
        return
    render.card(card, names)


@model_app.command("history")
def model_history(
    alias: Annotated[str, typer.Argument(help="champion or challenger")] = "champion",
    bucket: Bucket = None,
    as_json: Json = False,
) -> None:
    """Every move of an alias, oldest first: who, when, why, on which evidence."""
    if alias not in ("champion", "challenger"):
        common.fail(f"no alias {alias!r}: champion or challenger", errors.USAGE)
    registry, _ = _registry(bucket)
    moves = registry.alias_history(alias)  # type: ignore[arg-type]
    if as_json:
        common.print_json([m.model_dump(mode="json") for m in moves])
        return
    render.moves(alias, moves)


@model_app.command("bootstrap")
def model_bootstrap(bucket: Bucket = None) -> None:
    """Register the layer's model as the first champion (`local up` does it locally); nothing if one is set."""
    from creditwatch.registry import who
    from creditwatch_analytics.model_lifecycle import bootstrap_champion
    from creditwatch_analytics.training.card import layer_card
    from creditwatch_model import model_dir

    registry, deployed = _registry(bucket)
    current = registry.alias("champion")
    if current is not None:
        render.moves("champion", [current])
        return
    by = who(deployed)
    card = layer_card(model_dir(), created_by=by, why="the model the layer ships: first champion")
    move = bootstrap_champion(registry, card, model_dir(), by)
    if move is not None:
        render.moved(move)


@model_app.command("train")
def model_train(
    challenger: Annotated[
        bool, typer.Option("--challenger", help="Train a challenger (required: `creditwatch train` rebuilds the layer)")
    ] = False,
    start: Annotated[
        str | None, typer.Option(help=f"Predictions made from (default: {DEFAULT_DAYS} days before --end)")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Predictions made before (default: now)")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (default: says the window)")] = None,
    bucket: Bucket = None,
    table: Annotated[str | None, typer.Option(help="With --bucket: the deployed PredictionsTable")] = None,
    lake_bucket: Annotated[str | None, typer.Option(help="With --bucket: the deployed LakeBucketName")] = None,
    shards: common.DeployedShards = 16,
    as_json: Json = False,
) -> None:
    """Train a challenger on the original data plus matured outcomes, register it and point `challenger` at it."""
    from creditwatch.registry import matured_outcomes, who
    from creditwatch_analytics.training.retrain import NothingToLearn, default_why, retrain

    if not challenger:
        common.fail(
            "model train trains a challenger: pass --challenger (creditwatch train rebuilds the layer's model)",
            errors.USAGE,
        )
    until = common.instant(end, "--end", day=True) if end else datetime.now(UTC)
    since = common.instant(start, "--start", day=True) if start else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        common.fail(f"--start {since:%Y-%m-%dT%H:%M:%SZ} is not before --end {until:%Y-%m-%dT%H:%M:%SZ}", errors.USAGE)
    if bucket and not table:
        common.fail("a deployed registry (--bucket) needs --table (and --lake-bucket for the lake)", errors.USAGE)
    registry, deployed = _registry(bucket)
    endpoint = None if deployed else common.local_state().endpoint
    matured = matured_outcomes(since, until, endpoint=endpoint, table=table, lake_bucket=lake_bucket, shards=shards)
    by = who(deployed)
    why = reason or default_why(since, until)
    try:
        done = retrain(registry, matured, created_by=by, why=why)
    except NothingToLearn as exc:
        common.fail(f"{exc}; widen --start/--end")
    if as_json:
        common.print_json(
            {**render.version_row(done.card, registry.aliases()), "new": done.new, "moved": done.move is not None}
        )
        return
    render.trained(done, done.champion)


@model_app.command("shadow")
def model_shadow(
    version: Annotated[str, typer.Argument(help="The version to score beside the champion")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (kept in the alias history)")
    ] = "shadowed for comparison",
    bucket: Bucket = None,
) -> None:
    """Point `challenger` at a version: from now on the predict function scores it beside the champion."""
    from creditwatch.registry import who
    from creditwatch_analytics import model_lifecycle

    registry, deployed = _registry(bucket)
    move = model_lifecycle.shadow(registry, version, who(deployed), _reason(reason))
    render.moved(move)


@model_app.command("promote")
def model_promote(
    version: Annotated[str, typer.Argument(help="The version to make champion")],
    reason: Reason,
    force: Annotated[
        bool, typer.Option("--force", help="Without a comparison newer than the shadow start (recorded as forced)")
    ] = False,
    bucket: Bucket = None,
) -> None:
    """Move `champion` to a version, on a comparison newer than its shadow start (or --force, recorded)."""
    from creditwatch.registry import who
    from creditwatch_analytics import model_lifecycle

    registry, deployed = _registry(bucket)
    move = model_lifecycle.promote(registry, version, who(deployed), _reason(reason), force=force)
    render.moved(move)
    render.promotion_note(deployed)


@model_app.command("rollback")
def model_rollback(reason: Reason, bucket: Bucket = None) -> None:
    """Move `champion` back to the version it named before its last move."""
    from creditwatch.registry import who
    from creditwatch_analytics import model_lifecycle

    registry, deployed = _registry(bucket)
    move = model_lifecycle.rollback(registry, who(deployed), _reason(reason))
    render.moved(move)
    render.promotion_note(deployed)


@model_app.command("export-mlflow")
def model_export_mlflow(
    version: Annotated[str, typer.Argument(help="The version to log")],
    tracking_uri: Annotated[
        str, typer.Option("--tracking-uri", help="MLflow tracking server or store, e.g. file:./mlruns")
    ],
    experiment: Annotated[str, typer.Option(help="MLflow experiment")] = "creditwatch",
    bucket: Bucket = None,
) -> None:
    """Log a version (card as params, metrics and tags; its artifacts, checked against the card) to MLflow."""
    from creditwatch.mlflow_export import export

    registry, _ = _registry(bucket)
    card = registry.card(version)
    with tempfile.TemporaryDirectory(prefix="creditwatch-export-") as tmp:
        folder = registry.fetch(version, Path(tmp) / "model")
        run = export(card, folder, tracking_uri, experiment)
    render.exported(version, run, tracking_uri)


def register(app: Any) -> None:
    """Add the `model` group to the root app, with compare (cli/model_compare.py) and gate (cli/model_gate.py)."""
    from creditwatch.cli.model_compare import compare
    from creditwatch.cli.model_gate import gate

    model_app.command("compare")(compare)
    model_app.command("gate")(gate)
    app.add_typer(model_app, name="model")
