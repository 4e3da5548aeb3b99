"""`creditwatch model compare`: the compare job on the local stack, champion against challenger, its verdict."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common
from creditwatch.cli.render.comparison import comparison


def compare(
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (with --end)")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, ISO 8601, exclusive (with --start)")] = None,
    last: Annotated[str | None, typer.Option(help="The window ending now: 90s, 30m, 1h, 2d")] = None,
    challenger: Annotated[
        str | None, typer.Option(help="The challenger version (default: the one most records of the window carry)")
    ] = None,
    notify: Annotated[bool, typer.Option("--notify/--no-notify", help="Queue the verdict's Slack note")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Compare the challenger with the champion on the local stack (the compare job: report, evidence, note)."""
    event: dict[str, Any] = {"source": "creditwatch.cli", "notify": notify}
    if challenger is not None:
        event["challenger_version"] = challenger
    event.update(common.window(start, end, last, "7d"))
    summary = common.run_job("CompareFunction", event)
    status = summary.get("status")
    if status == "invalid_event":
        common.fail(
            f"the compare job refused the window: {summary.get('message')}: "
            f"{common.plain_errors(summary.get('errors') or [])}",
            errors.USAGE,
        )
    if as_json:
        common.print_json(summary)
    else:
        comparison(summary)
    if status != "ok":
        raise typer.Exit(errors.FAILED)
