"""The `creditwatch` command: train the model, run the stack locally, invoke functions, simulate traffic."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
import typer.exceptions
from typer.core import TyperGroup

from creditwatch import errors
from creditwatch.cli import jobs, lake, legacy, local, log, model, report, review, simulate
from creditwatch.errors import CliError

__all__ = ["CliError", "app", "main"]


def _epilog() -> str:
    # "\b" keeps click from re-flowing the lines of the block that follows.
    codes = "\n".join(f"  {code:<3} {meaning}" for code, meaning in errors.EXIT_CODES.items())
    return (
        "\b\nExit codes (docs/develop.md):\n"
        f"{codes}\n\n"
        "Expected failures print one `error: ...` line; --debug (or CREDITWATCH_DEBUG=1) adds the traceback."
    )


def _say(exc: Exception) -> int:
    """Print a failure's one `error:` line; its exit code."""
    failure = errors.explain(exc)
    typer.echo(f"error: {failure.message}", err=True)
    return failure.code


class _Root(TyperGroup):
    """The root group: old spellings rewritten before parsing, expected failures as one `error:` line."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, legacy.modernize(list(args)))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.exceptions.TyperException, typer.Exit, typer.Abort):  # click's own ways out (usage: 2)
            raise
        except Exception as exc:
            if errors.debug_enabled():
                raise
            ctx.exit(_say(exc))


# Plain click help: flags show as flags (rich help labels them `<bool>`), and nothing is boxed or wrapped.
app = typer.Typer(
    cls=_Root,
    help=__doc__,
    epilog=_epilog(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version() -> str:
    import importlib.metadata

    from creditwatch_model import METADATA_FILE, model_dir

    try:
        package = importlib.metadata.version("creditwatch")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without install
        package = "unknown"
    meta = json.loads((model_dir() / METADATA_FILE).read_text())
    return f"creditwatch {package}; model {meta['name']} version {meta['version']} (trained {meta.get('trained_at')})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(_version())
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of a failure (also CREDITWATCH_DEBUG=1)")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the package and model versions"),
    ] = False,
) -> None:
    """Train the model, run the stack locally, invoke functions, simulate traffic, drive the monitoring loop."""
    import os

    if debug:
        os.environ[errors.DEBUG_VAR] = "1"


jobs.register(app)
local.register(app)
app.add_typer(local.local_app, name="local")
app.add_typer(log.log_app, name="log")
log.register(app)
app.add_typer(report.report_app, name="report")
app.add_typer(simulate.simulate_app, name="simulate")
app.add_typer(lake.lake_app, name="lake")
app.add_typer(review.review_app, name="review")
model.register(app)


def main() -> None:
    """Console-script entry point: expected failures end as one `error:` line and their exit code."""
    try:
        app()
    except Exception as exc:  # raised outside a command (the root's own options)
        if errors.debug_enabled():
            raise
        sys.exit(_say(exc))
