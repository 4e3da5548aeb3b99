"""The demo's summary: steps, traffic, drift and quality verdicts, alerts, Slack messages and the stack's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from creditwatch.cli.render.common import figure, pct, render_drift
from creditwatch.cli.render.comparison import comparison_lines
from creditwatch.cli.render.model import move_line
from creditwatch_common import words
from creditwatch_common.model_registry import AliasMove

if TYPE_CHECKING:
    from creditwatch.demo import DemoRun


def render_demo(run: DemoRun, console: Console | None = None) -> None:
    """Print the demo's summary: steps, traffic, drift verdicts, alerts, Slack messages and the stack's state."""
    console = console or Console()
    result, endpoint, kept = run.result, run.endpoint, run.stack_state == "running"
    for note in run.notes:
        console.print(f"note: {note}")
    steps = Table(title="creditwatch demo", show_lines=False)
    steps.add_column("")
    steps.add_column("step")
    steps.add_column("outcome", overflow="fold")
    steps.add_column("s", justify="right")
    for s in result.steps:
        steps.add_row("[green]ok[/]" if s.ok else "[red]FAILED[/]", s.name, s.detail, f"{s.seconds:.1f}")
    console.print(steps)

    t = result.traffic
    if t:
        lat = t["handler_latency_ms"]
        traffic = Table(title="traffic", show_header=False)
        traffic.add_column("figure")
        traffic.add_column("value", justify="right")
        traffic.add_row("requests (all kinds)", str(t["requests"]))
        traffic.add_row("predictions made", str(t["predictions"]))
        traffic.add_row(
            "approval rate (all / stable / shifted)",
            " / ".join(pct(t[k]) for k in ("approval_rate", "approval_rate_stable", "approval_rate_shifted")),
        )
        traffic.add_row("handler latency p50 / p95 / p99", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f} ms")
        traffic.add_row("shift applied", t["drift_shift"])
        console.print(traffic)

    render_drift(console, "drift over the stable window", result.drift_baseline)
    render_drift(console, "drift over the shifted window", result.drift)
    _render_quality(console, "quality over the cohort before the change", result.quality_stable)
    _render_quality(console, "quality over the concept-drift cohort", result.quality_drifted)
    _render_loop(console, result.loop)
    _render_review(console, result.review)
    if result.report_path:
        console.print(f"HTML report copied to [bold]{result.report_path}[/]")
    if result.index_path:
        console.print(f"report history (every report, trend charts) saved beside it: [bold]{result.index_path}[/]")
    if result.drift.get("report_url"):
        live = "" if kept else " (served by the local stack: run with --keep to open it)"
        signed_by = result.drift.get("report_url_signed_by") or ""
        until = result.drift.get("report_url_expires_at")
        if signed_by == "link-token":
            serve = f"CREDITWATCH_STATE_DIR={run.state_dir} creditwatch serve"
            live = (
                f" (opens while `{serve}` runs)" if kept else " (run with --keep, then `creditwatch serve`, to open it)"
            )
            console.print(f"report link{live}, opens through GET /reports/{{id}} (recorded), expires {until}:")
        else:
            signer = {"signer-user": "the report signer's key", "function-role": "the function's session"}.get(
                signed_by, "?"
            )
            console.print(f"pre-signed link{live}, signed with {signer}, expires {until}:")
        console.print(result.drift["report_url"], soft_wrap=True, markup=False, highlight=False)  # never wrapped
        for warning in result.drift.get("warnings") or []:
            console.print(f"[yellow]warning:[/] {warning}")

    if result.alerts:
        stats = result.alerts["stats"]
        alerts = Table(title=f"alerts over {stats['window_start']} .. {stats['window_end']}")
        for col in ("condition", "value", "threshold", "firing", "detail"):
            alerts.add_column(col)
        for c in result.alerts["conditions"]:
            shown, limit = figure(c.get("value"), c.get("unit"), ".1f"), figure(c.get("threshold"), c.get("unit"))
            alerts.add_row(c["title"], shown, limit, "yes" if c["firing"] else "no", c.get("detail") or "")
        console.print(alerts)

    console.print(f"Slack sink received {len(result.slack_messages)} message(s):")
    for m in result.slack_messages:
        console.print(f"  - {m['payload'].get('text', '')[:160]}")
    if kept:
        env = f"CREDITWATCH_STATE_DIR={run.state_dir}"
        state = f"running (the demo's own: `{env} creditwatch ...` uses it, `{env} creditwatch local down` stops it)"
    else:
        state = "stopped"
    console.print(f"demo stack {endpoint}: {state}", soft_wrap=True)
    failed = next((s for s in result.steps if not s.ok), None)
    if failed is None and result.steps:
        console.print("[green]demo passed[/]")
    else:
        where = f" at step '{failed.name}': {failed.detail}" if failed else ": no step ran"
        console.print(f"[red]demo FAILED[/]{where} (the steps after it did not run)", soft_wrap=True, highlight=False)


def _render_loop(console: Console, loop: dict[str, Any]) -> None:
    """The closing loop: the comparison the promotion rests on, the promotion, quality under the new champion."""
    comparison = loop.get("comparison")
    if comparison:
        console.print("[bold]champion against challenger[/] on the shadow window:")
        for line in comparison_lines(comparison):
            if not line.startswith("report: "):  # the link is the local stack's, gone with it
                console.print(f"  {line}", markup=False, highlight=False)
    if loop.get("promotion"):
        move = AliasMove.model_validate(loop["promotion"])
        console.print(f"promoted: {move_line('champion', move)}", markup=False, highlight=False)
    _render_quality(console, "quality under the new champion", loop.get("quality") or {})


def _render_review(console: Console, review: dict[str, Any]) -> None:
    """The reviewer step: how many were referred, by which rule, and how often the reviewer overrode the model."""
    if not review:
        return
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted((review.get("by_rule") or {}).items()))
    console.print(
        f"[bold]oversight[/]: referral rate {pct(review['referral_rate'])} ({review['referred']} of "
        f"{review['applications']}: {rules}); override rate {pct(review['override_rate'])} "
        f"({review['overridden']} of {review['decided']} decided by {review['reviewer']}); "
        f"{review['pending']} pending",
        highlight=False,
    )


def _render_quality(console: Console, title: str, summary: dict[str, Any]) -> None:
    """A quality run: its verdict, then each figure realized (with outcomes), estimated (CBPE) and at validation."""
    if not summary:
        return
    cohort = summary.get("cohort") or {}
    verdict = words.quality_verdict(str(summary.get("verdict")))
    population = summary.get("population") or {}
    judged = summary.get("judged_against") or {}
    against = ""
    if judged:
        whose = "its registered card" if judged.get("source") == "registry" else "the layer's metadata"
        against = f", judged against version {judged.get('version')} ({whose}, threshold {judged.get('threshold')})"
        if judged.get("holdout") == "recent":
            against += f" on its recent labelled holdout ({judged.get('holdout_rows')} rows it approves)"
    console.print(
        f"[bold]{title}[/] ({cohort.get('start')} .. {cohort.get('end')}): [bold]{verdict}[/], realized on "
        f"{words.quality_population(population.get('name'), population.get('labelled_rows'))} "
        f"of {summary.get('rows')} predictions{against}"
    )
    for note in (judged.get("fallback"), judged.get("mixed"), judged.get("holdout_note")):
        if note:
            console.print(f"  {note}", markup=False, highlight=False)
    for reason in summary.get("reasons") or []:
        console.print(f"  {reason}")
    table = Table(show_header=True)
    table.add_column("figure")
    # Each realized figure beside its own population's validation; the estimate beside the whole holdout's.
    rests_on = words.validation_population(population.get("name"), judged.get("holdout") or "original")
    columns = {
        "realized": "realized",
        "validation": f"validation ({rests_on})",
        "estimated": "estimated (all scored)",
        "validation_scored": "validation (whole holdout)",
    }
    for label in columns.values():
        table.add_column(label, justify="right")
    for name in ("bad_rate_approved", "expected_cost", "auc", "approval_rate"):
        cells = []
        for column in columns:
            f = (summary.get(column) or {}).get(name) or {}
            value, low, high = f.get("value"), f.get("low"), f.get("high")
            cells.append("-" if value is None else f"{value:.3f}" + ("" if low is None else f" ({low:.3f}-{high:.3f})"))
        table.add_row(name, *cells)
    console.print(table)
