"""Every output of the CLI in one place: plain lines and rich tables of what a command did."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from creditwatch.cli.render.common import figure, pct, render_drift
from creditwatch.cli.render.demo import render_demo
from creditwatch.cli.render.review import review_case, review_decided, review_queue

if TYPE_CHECKING:
    from creditwatch.local.stack import StackState

__all__ = ["render_demo", "review_case", "review_decided", "review_queue"]


def drift_summary(summary: dict[str, Any]) -> None:
    """The drift command's verdict: the same lines as the demo's, then the report and the Slack note."""
    console = Console(soft_wrap=True)
    title = f"{summary.get('window_start')} .. {summary.get('window_end')}: {summary.get('status')}"
    render_drift(console, title, summary)
    if summary.get("summary_key"):
        run = summary["summary_key"].rsplit("/", 2)[-2]
        typer.echo(f"report ({run}): {summary['report_html_key']}")
        typer.echo(summary.get("report_url") or "")
        typer.echo("reruns of a window keep their own report: creditwatch report list")
    if summary.get("notified"):
        typer.echo(
            "Slack: the drift or fairness note is queued in the notifications queue; "
            "the alerts job posts it (run `creditwatch alerts`, then `creditwatch slack`)"
        )
    elif summary.get("dataset_drift"):
        typer.echo("Slack: no note queued (--no-notify)")
    for warning in summary.get("warnings") or []:
        typer.echo(f"warning: {warning}")


def report(summary: dict[str, Any], expires: int, saved: Path | None) -> None:
    """`report show`: the run's verdict (as `drift` prints it) and its fresh link."""
    title = f"{summary.get('window_start')} .. {summary.get('window_end')}: {summary.get('status')}"
    render_drift(Console(soft_wrap=True), title, summary)
    typer.echo(f"report (link valid {expires} s, at most as long as your credentials):\n{summary['report_url']}")
    if saved:
        typer.echo(f"saved: {saved}")


def runs(items: list[dict[str, Any]]) -> None:
    """`report list`: one line a run, the window written once for its reruns."""
    if not items:
        typer.echo("no drift report yet: run the drift job (creditwatch drift --last 1h)")
        return
    previous = None
    for r in items:
        window = f"{r.get('window_start')} .. {r.get('window_end')}"
        share = r.get("drift_share")
        shown = "-" if share is None else f"{share:.2f}"
        label = window if window != previous else " " * len(window)
        typer.echo(f"{label}  {r.get('run_id') or '-':<32} {r.get('status'):<18} drift share {shown}")
        previous = window
    typer.echo(
        f"{len(items)} run(s); open one with: creditwatch report show --summary-key <key> (--json lists the keys)"
    )


def report_index(saved: Any, rebuilt: dict[str, Any] | None, show_uri: bool) -> None:
    """`report index`: what the rebuild found and where the history page is."""
    if rebuilt:
        where = (
            "the bucket's index rewritten"
            if rebuilt["index_rewritten"]
            else "the next job run rewrites the bucket's index"
        )
        typer.echo(
            f"rebuilt: {rebuilt['summaries']} summaries, {rebuilt['added']} new entries, "
            f"{rebuilt['entries']} in the history; {where}"
        )
    typer.echo(
        f"report history: {saved.entries} report(s), the newest {saved.linked} linked to copies beside it "
        f"({saved.copied} fetched now)\n{saved.path}"
    )
    if show_uri:
        typer.echo(f"open it in a browser: {saved.path.resolve().as_uri()}")


def alerts(result: dict[str, Any]) -> None:
    """`alerts`: each condition with its value and threshold, then what was posted."""
    stats = result.get("stats", {})
    typer.echo(f"window {stats.get('window_start')} .. {stats.get('window_end')}")
    for c in result.get("conditions", []):
        state = "FIRING" if c.get("firing") else "ok"
        value, limit = figure(c.get("value"), c.get("unit"), ".1f"), figure(c.get("threshold"), c.get("unit"))
        typer.echo(f"  {state:<7} {c.get('title')}: {value} (threshold {limit}): {c.get('detail') or ''}")
    posted = result.get("posted", [])
    for p in posted:
        typer.echo(f"posted {p.get('kind')}: {p.get('text')}")
    if posted:
        typer.echo(f"{len(posted)} Slack message(s) posted (creditwatch slack shows the sink's)")
    else:
        typer.echo("nothing posted (no new transition, no queued note)")


def trained(meta: dict[str, Any], out: Path) -> None:
    """`train`: the model's version and its holdout figures."""
    holdout = meta["metrics"]["holdout"]
    typer.echo(f"model {meta['name']} version {meta['version']} -> {out}")
    typer.echo(
        f"holdout ROC AUC {holdout['roc_auc']:.4f}; threshold {meta['decision']['threshold']} "
        f"(expected cost {holdout['expected_cost_at_threshold']:.3f} vs {holdout['expected_cost_at_0_5']:.3f} at 0.5)"
    )


def stack_up(state: StackState, resources: list[tuple[str, str, str]]) -> None:
    """`local up`: where the stack runs and the resources it holds."""
    typer.echo(f"local stack on {state.endpoint} (pid {state.moto_pid})")
    for lid, kind, ref in resources:
        typer.echo(f"  {kind:<30} {lid:<26} {ref}")
    if state.sink_url:
        typer.echo(f"  Slack webhook sink            {state.sink_url}  (creditwatch slack)")


def slack_messages(messages: list[dict[str, Any]]) -> None:
    """`slack`: what the local sink received."""
    if not messages:
        typer.echo("the Slack sink has received no message")
    for m in messages:
        typer.echo(f"{m['received_at']}  {m['payload'].get('text', '')}")


def log_rows(rows: list[Any], minutes: int) -> None:
    """`log tail`: one line a record, the count on stderr."""
    for row in rows:
        typer.echo(
            f"{row.ts}  {row.status}  {row.route:<15} {row.kind:<11} "
            f"{row.decision or row.error_class or '':<22} {row.prediction_id}"
        )
    typer.echo(f"{len(rows)} record(s) shown, from the last {minutes} min", err=True)


MERGED = "merged into the lake's object (past the table's TTL)"


def _lake_hour(bucket: str, h: Any, how: str = "") -> None:
    """One hour's predictions object written to the lake, and how when it was not a plain rewrite."""
    how = f"  {how}" if how else ""
    typer.echo(f"  {h.hour}  {h.rows:>8} rows  {h.bytes:>10} bytes  s3://{bucket}/{h.key}{how}")


def _lake_written(verb: str, result: Any) -> None:
    """What an export or a backfill wrote, then how far the lake is complete."""
    mark = result.watermark
    typer.echo(
        f"{verb} {result.rows} record(s) and {result.outcome_rows} outcome(s); "
        f"the lake holds every hour from {mark.first_hour:%Y-%m-%dT%H:%MZ} "
        f"to {mark.complete_through:%Y-%m-%dT%H:%MZ} completely"
    )


def lake_backfill(result: Any) -> None:
    """`lake export --backfill`: each hour written, the simulated days past the TTL, how far the lake is complete."""
    for h in result.hours:
        _lake_hour(result.bucket, h, MERGED if h.merged else "")
    if result.simulated_days:
        days = ", ".join(result.simulated_days[:3]) + (" ..." if len(result.simulated_days) > 3 else "")
        typer.echo(f"{len(result.simulated_days)} day(s) past the table's TTL written from simulated history: {days}")
    _lake_written(f"backfilled {result.days} day(s):", result)


def lake_export(result: Any) -> None:
    """`lake export`: each hour written, then how far the lake is complete."""
    for h in result.hours:
        _lake_hour(result.bucket, h)
        if h.outcome_key:
            typer.echo(f"  {h.hour}  {h.outcome_rows:>8} outcomes  s3://{result.bucket}/{h.outcome_key}")
    for h in result.late_hours:
        _lake_hour(result.bucket, h, MERGED if h.merged else "marked by a spill replay")
    _lake_written("exported", result)


def rows(names: list[str], values: list[tuple[Any, ...]], as_json: bool) -> None:
    """Query rows as a table (or JSON objects), the row count on stderr."""
    if as_json:
        typer.echo(json.dumps([dict(zip(names, row, strict=True)) for row in values], indent=2, default=str))
        return
    cells = [names, *([("NULL" if v is None else str(v)) for v in row] for row in values)]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(names))]
    for r in cells:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"({len(values)} row{'s' if len(values) != 1 else ''})", err=True)


def explanation(
    title: str, decision: str, p_good: float, threshold: float, reasons: Sequence[Mapping[str, Any]], found: Any
) -> None:
    """`explain`: the decision, its principal reasons as a table, and the counterfactual if asked."""
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    console.print(f"decision [bold]{decision}[/bold]: P(good) {p_good:.3f}, threshold {threshold:.3f}")
    table = Table(title="principal reasons (features that lowered P(good), most first)")
    for column in ("#", "reason", "applicant's value", "meaning", "contribution"):
        table.add_column(column, justify="right" if column in ("#", "contribution") else "left")
    for i, r in enumerate(reasons, 1):
        table.add_row(str(i), r["label"], str(r["value"]), r["meaning"] or "", f"{r['contribution']:+.4f}")
    console.print(table)
    if found is None:
        return
    console.print(f"what would change the decision: {found.message}")
    for c in found.changes:
        console.print(f"  {c.label}: {c.from_value} -> {c.to_value}" + (f" ({c.meaning})" if c.meaning else ""))
    if found.probability_good_credit is not None:
        console.print(f"  P(good) with the changes: {found.probability_good_credit:.3f}")


def _figures(title: str, pairs: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in pairs:
        table.add_row(name, value)
    Console().print(table)


def tally(summary: dict[str, Any]) -> None:
    """`simulate traffic`: what was sent and how it was answered, then the window to analyse."""
    lat, rate = summary["latency_ms"], summary["approval_rate"]
    _figures(
        "simulated traffic",
        [
            ("requests", str(summary["requests"])),
            *((f"  {k}", str(v)) for k, v in summary["by_scenario"].items()),
            *((f"  HTTP {k}", str(v)) for k, v in summary["by_status"].items()),
            ("approval rate", pct(rate)),
            ("latency p50 / p95 / p99 (ms)", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f}"),
            *(("drift shift", summary[k]) for k in ("drift_shift",) if k in summary),
            *(("bias shift", summary[k]) for k in ("bias_shift",) if k in summary),
        ],
    )
    window = summary["window"]
    typer.echo(f"window {window['start']} .. {window['end']}")
    typer.echo(f"drift over it: creditwatch drift --start {window['start']} --end {window['end']}")


OUTCOME_POPULATION = {
    "approved": "approved applicants only (booked loans: a refused applicant has no loan to repay)",
    "all": "every applicant (bureau data on declined applicants)",
}


def history(summary: dict[str, Any]) -> None:
    """`simulate history`: the records and outcomes written, per period, and the commands that judge them."""
    from creditwatch_common.ids import iso_utc

    window, out = summary["window"], summary["outcomes"]
    pairs = [
        ("days", f"{summary['days']} ({window['start']} .. {window['end']})"),
        ("records", f"{summary['records']} ({summary['per_day']} a day)"),
        ("  written now", str(summary["records_written"])),
        ("  already in the log", str(summary["records_existing"])),
        *((f"  {k}", str(v)) for k, v in summary["decisions"].items()),
        *([("change from", summary["change_at"])] if summary["change_at"] else []),
        ("outcomes for", OUTCOME_POPULATION[out["population"]]),
        ("outcomes posted", str(out["posted"])),
        *((f"  {k}", str(v)) for k, v in out["by_status"].items()),
        ("outcomes not yet observed", str(out["not_yet_observed"])),
        ("outcomes never reported", str(out["never_reported"])),
        *([("  refused: no loan", str(out["refused_no_loan"]))] if out["refused_no_loan"] else []),
    ]
    for name, period in summary["periods"].items():
        auc = period["realized_auc"]
        shown = f"{auc:.3f}" if auc is not None else "-"
        pairs.append(
            (
                name.replace("_", " "),
                f"{period['labelled']} labelled of {period['records']} ({period['approved']} approved), "
                f"realized AUC {shown}",
            )
        )
    truth = summary["truth"]
    pairs.append(("truth", f"temperature {truth['temperature']}, validation AUC {truth['target_auc']}"))
    if truth["change"]:
        pairs.append(("change", truth["change"]))
    _figures(f"simulated history: {summary['scenario']}", pairs)
    typer.echo(f"records are marked by their request id: {summary['request_id_prefix']}<prediction id>")
    for name, period in summary["periods"].items():
        cohort = json.dumps({k: period[k] for k in ("days_ago_from", "days_ago_to")})
        typer.echo(f"quality {name.replace('_', ' ')}: echo '{cohort}' | creditwatch invoke QualityFunction -e -")
    end = datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    typer.echo(
        f"input drift of the last week: creditwatch drift --start {iso_utc(end - timedelta(days=7))} "
        f"--end {window['end']}"
    )
