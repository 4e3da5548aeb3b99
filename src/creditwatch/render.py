"""Readable terminal summaries (rich) of what the CLI did."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from creditwatch.demo import DemoRun


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


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
            " / ".join(_pct(t[k]) for k in ("approval_rate", "approval_rate_stable", "approval_rate_shifted")),
        )
        traffic.add_row("handler latency p50 / p95 / p99", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f} ms")
        traffic.add_row("shift applied", t["drift_shift"])
        console.print(traffic)

    _render_drift(console, "drift over the stable window", result.drift_baseline)
    _render_drift(console, "drift over the shifted window", result.drift)
    _render_quality(console, "quality over the cohort before the change", result.quality_stable)
    _render_quality(console, "quality over the concept-drift cohort", result.quality_drifted)
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
            value = c.get("value")
            shown = (
                "-" if value is None else (_pct(value) if c.get("unit") == "share" else f"{value:.1f} {c.get('unit')}")
            )
            limit = c.get("threshold")
            shown_limit = (
                "-" if limit is None else (_pct(limit) if c.get("unit") == "share" else f"{limit:g} {c.get('unit')}")
            )
            alerts.add_row(c["title"], shown, shown_limit, "yes" if c["firing"] else "no", c.get("detail") or "")
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
    console.print("[green]demo passed[/]" if result.ok else "[red]demo FAILED[/]: see the steps above")


def _render_quality(console: Console, title: str, summary: dict[str, Any]) -> None:
    """A quality run: its verdict, then each figure realized (with outcomes), estimated (CBPE) and at validation."""
    if not summary:
        return
    cohort = summary.get("cohort") or {}
    console.print(
        f"[bold]{title}[/] ({cohort.get('start')} .. {cohort.get('end')}): [bold]{summary.get('verdict')}[/], "
        f"{summary.get('labelled_rows')} of {summary.get('rows')} predictions with outcomes"
    )
    for reason in summary.get("reasons") or []:
        console.print(f"  {reason}")
    table = Table(show_header=True)
    table.add_column("figure")
    for column in ("realized", "estimated", "validation"):
        table.add_column(column, justify="right")
    for figure in ("auc", "expected_cost", "bad_rate_approved", "approval_rate"):
        cells = []
        for column in ("realized", "estimated", "validation"):
            f = (summary.get(column) or {}).get(figure) or {}
            value, low, high = f.get("value"), f.get("low"), f.get("high")
            cells.append("-" if value is None else f"{value:.3f}" + ("" if low is None else f" ({low:.3f}-{high:.3f})"))
        table.add_row(figure, *cells)
    console.print(table)


def _render_drift(console: Console, title: str, summary: dict[str, Any]) -> None:
    if not summary:
        return
    console.print(f"[bold]{title}[/]: {summary.get('message')} ({summary.get('rows_used')} rows)")
    _render_monitors(console, summary)
    drifted = [f for f in summary.get("features", []) if f.get("drifted")]
    if not drifted:
        return
    table = Table(show_header=True)
    for col in ("drifted feature", "test", "value", "threshold"):
        table.add_column(col)
    for f in drifted:
        table.add_row(
            f["name"],
            f.get("test") or "",
            f"{f['value']:.3g}" if f.get("value") is not None else "-",
            f"{f['threshold']:g}" if f.get("threshold") is not None else "-",
        )
    console.print(table)


def _render_monitors(console: Console, summary: dict[str, Any]) -> None:
    """The run's attribution, refusal reasons, fairness, score stability and estimated quality, one line each."""
    attribution = summary.get("attribution")
    if attribution:
        reasons = [r for r in attribution.get("first_reasons", []) if r.get("share_current")][:3]
        shown = ", ".join(
            f"{r['feature']} {_pct(r['share_current'])} (training {_pct(r.get('share_reference'))})" for r in reasons
        )
        verdict = "changed" if attribution.get("drifted") else "as in training"
        console.print(f"  what drives the decisions: {verdict} (NDCG {attribution['ndcg']:.3f})")
        if shown:
            console.print(f"  most frequent first reasons of refusals: {shown}")
    fairness = summary.get("fairness")
    for a in (fairness or {}).get("attributes", []):
        cur = a["current"]
        if not cur.get("judged") or cur.get("disparate_impact_ratio") is None:
            console.print(f"  fairness by {a['attribute']}: not judged ({cur.get('note') or 'groups too small'})")
            continue
        low, high = cur.get("ratio_interval") or (None, None)
        interval = f" (95% {low:.2f}-{high:.2f})" if low is not None else ""
        verdict = "ALERT" if a.get("alert") else ("below threshold" if a.get("below_threshold") else "ok")
        console.print(
            f"  fairness by {a['attribute']}: disparate impact {cur['disparate_impact_ratio']:.2f}{interval}, "
            f"{cur.get('lowest_group')} vs {cur.get('highest_group')}: {verdict}"
        )
    stability = summary.get("stability")
    if stability and stability.get("score", {}).get("psi") is not None:
        console.print(f"  score stability: PSI {stability['score']['psi']:.3f} ({stability['score'].get('band')})")
    estimate = summary.get("estimated_quality")
    if estimate and estimate.get("auc", {}).get("value") is not None:
        auc = estimate["auc"]
        interval = f" (95% {auc['low']:.3f}-{auc['high']:.3f})" if auc.get("low") is not None else ""
        verdict = "holds" if estimate.get("holds") else "[red]does not hold[/]"
        console.print(
            f"  estimated quality (no outcomes yet, assumes no concept drift): AUC {auc['value']:.3f}{interval} "
            f"vs validation {estimate['validation_auc']:.3f}: {verdict}"
        )
