"""What the demo and the commands share: figures and a drift run's verdict with its monitors."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from creditwatch_common import words


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
        verdict = words.attribution_verdict(
            bool(attribution.get("drifted")), attribution["ndcg"], attribution["threshold"]
        )
        console.print(f"  what drives the decisions: {verdict}")
        if shown:
            console.print(f"  most frequent first reasons of refusals: {shown}")
    fairness = summary.get("fairness")
    threshold = (fairness or {}).get("threshold", 0.8)
    for a in (fairness or {}).get("attributes", []):
        cur = a["current"]
        low, high = cur.get("ratio_interval") or (None, None)
        verdict = words.fairness_verdict(
            attribute=a["attribute"],
            ratio=cur.get("disparate_impact_ratio"),
            low=low,
            high=high,
            lowest_group=cur.get("lowest_group"),
            highest_group=cur.get("highest_group"),
            threshold=threshold,
            judged=bool(cur.get("judged")),
            alert=bool(a.get("alert")),
            as_in_training=bool(a.get("below_threshold")) and not a.get("alert"),
            note=cur.get("note"),
        )
        console.print(f"  fairness by {verdict}")
    stability = summary.get("stability")
    if stability and stability.get("score", {}).get("psi") is not None:
        score = stability["score"]
        console.print(f"  score stability: {words.psi_verdict(score.get('band'), score['psi'])}")
    estimate = summary.get("estimated_quality")
    if estimate and estimate.get("auc", {}).get("value") is not None:
        auc = estimate["auc"]
        interval = f" (95% {auc['low']:.3f}-{auc['high']:.3f})" if auc.get("low") is not None else ""
        verdict = "estimated quality holds" if estimate.get("holds") else "[red]estimated quality does not hold[/]"
        console.print(
            f"  estimated quality (no outcomes yet, assumes no concept drift): AUC {auc['value']:.3f}{interval} "
            f"vs validation {estimate['validation_auc']:.3f}: {verdict}"
        )
