"""The model and the monitoring loop: `train`, `drift`, `alerts`, `demo`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render
from creditwatch.cli.explain import explain
from creditwatch.paths import ROOT

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]


def train(
    out: Annotated[Path, typer.Option(help="Where to write the layer artifacts")] = ROOT
    / "layers/model/python/creditwatch_model/artifacts",
    trained_at: Annotated[str | None, typer.Option(help="Pin metadata's trained_at (ISO 8601)")] = None,
) -> None:
    """Train the model and regenerate every artifact of the model layer (deterministic)."""
    from creditwatch_analytics.training import train as run_training

    render.trained(run_training(out, trained_at=trained_at).metadata, out)


def drift(
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (with --end)")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, ISO 8601, exclusive (with --start)")] = None,
    last: Annotated[str | None, typer.Option(help="The window ending now: 90s, 30m, 1h, 2d")] = None,
    threshold: Annotated[float | None, typer.Option(help="Dataset drift threshold (default: the template's)")] = None,
    notify: Annotated[
        bool, typer.Option("--notify/--no-notify", help="Queue a Slack note for the alerts job when drifted")
    ] = True,
    as_json: Json = False,
) -> None:
    """Run the drift job on the local stack over a window and print its verdict (default: the job's own window)."""
    event: dict[str, Any] = {"source": "creditwatch.cli", "notify": notify}
    event.update(common.window(start, end, last, "1h"))
    if threshold is not None:
        event["threshold"] = threshold
    summary = common.run_job("DriftFunction", event)
    status = summary.get("status")
    if as_json:
        common.print_json(summary)
    elif status == "invalid_event":
        refused = common.plain_errors(summary.get("errors") or [])
        common.fail(f"the drift job refused the window: {summary.get('message')}: {refused}", errors.USAGE)
    else:
        render.drift_summary(summary)
    if status == "invalid_event":
        raise typer.Exit(errors.USAGE)
    if status == "error":
        raise typer.Exit(errors.FAILED)


def alerts(as_json: Json = False) -> None:
    """Run the alerts job on the local stack: error rate, latency, queued drift notes; prints what it posted."""
    result = common.run_job("AlertsFunction", {"source": "creditwatch.cli"})
    if as_json:
        common.print_json(result)
        return
    render.alerts(result)


def demo(
    stable: Annotated[int, typer.Option(help="Applications drawn like the training data")] = 400,
    drift: Annotated[int, typer.Option(help="Applications from the shifted population")] = 400,
    invalid: Annotated[int, typer.Option(help="Malformed or out-of-range requests")] = 20,
    errors_: Annotated[int, typer.Option("--errors", help="Server errors recorded in the local log")] = 60,
    slow: Annotated[int, typer.Option(help="Slow requests recorded in the local log")] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same traffic")] = 42,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the demo's stack running afterwards")] = False,
    port: Annotated[
        int | None, typer.Option(help="moto server port of the demo's own stack (default: a free one)")
    ] = None,
    reports_dir: Annotated[Path, typer.Option(help="Where to copy the HTML report")] = ROOT / "reports",
    loop: Annotated[
        bool,
        typer.Option(
            "--loop/--no-loop",
            help="After the quality alert, close the loop: challenger, shadow traffic, comparison, promotion, "
            "quality under the new champion (--no-loop: stop at the alerts, about 35 s sooner)",
        ),
    ] = True,
    as_json: Json = False,
) -> None:
    """The main job on a local stack of its own: traffic, drift, quality, alerts, the model loop and a reviewer.

    Stops at the first step that fails (exit 1). Your own local stack, if one runs, is left alone; the
    demo's is stopped at the end unless --keep.
    """
    from rich.console import Console

    from creditwatch.demo import DemoOptions, run_demo, summary_json
    from creditwatch.local.stack import PortTaken

    console = Console(stderr=True)
    options = DemoOptions(
        stable=stable,
        drift=drift,
        invalid=invalid,
        errors=errors_,
        slow=slow,
        seed=seed,
        reports_dir=reports_dir,
        loop=loop,
    )
    try:
        with console.status("creditwatch demo") as status:
            run = run_demo(options, keep, lambda msg: status.update(f"[bold]{msg}"), port=port)
    except PortTaken as exc:
        common.fail(
            f"the demo cannot start its own stack: {exc} (or leave --port out: the demo picks a free one)",
            errors.UNREACHABLE,
        )
    if as_json:
        sys.stdout.write(summary_json(run) + "\n")
    else:
        render.render_demo(run)
    if not run.result.ok:
        raise typer.Exit(errors.FAILED)


def register(app: typer.Typer) -> None:
    """Add the model and monitoring commands."""
    app.command()(train)
    app.command()(explain)
    app.command("drift")(drift)
    app.command("alerts")(alerts)
    app.command()(demo)
