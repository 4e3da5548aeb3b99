"""What the demo and the commands share: figures and a drift run's verdict with its monitors."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def pct(value: float | None) -> str:
    """A share as a percentage, or - when unknown."""
    return f"{value:.1%}" if value is not None else "-"


def figure(value: float | None, unit: str | None, spec: str = "g") -> str:
    """An alert condition's value or threshold with its unit (a share as a percentage)."""
    if value is None:
        return "-"
    return pct(value) if unit == "share" else f"{value:{spec}} {unit or ''}".rstrip()


def render_drift(console: Console, title: str, summary: dict[str, Any]) -> None:
    """A drift run: its verdict, its monitors, and the drifted features as a table."""
    if not summary:
        return
    console.print(f"[bold]{title}[/]: {summary.get('message')} ({summary.get('rows_used')} rows)")
    render_monitors(console, summary)
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


def render_monitors(console: Console, summary: dict[str, Any]) -> None:
    """The run's attribution, refusal reasons, fairness, score stability and estimated quality, one line each."""
    attribution = summary.get("attribution")
    if attribution:
        reasons = [r for r in attribution.get("first_reasons", []) if r.get("share_current")][:3]
        shown = ", ".join(
            f"{r['feature']} {pct(r['share_current'])} (training {pct(r.get('share_reference'))})" for r in reasons
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
