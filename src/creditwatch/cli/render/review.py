"""`creditwatch review`: the queue, a case and a decision, as lines and tables."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table


def age(seconds: int | None) -> str:
    """An age in its largest whole unit (45 s, 12 min, 3 h, 2 d)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def review_queue(page: dict[str, Any]) -> None:
    """`review list`: one line a pending case, oldest first, then the count and the next page."""
    cases = page.get("cases", [])
    if not cases:
        typer.echo("the queue is empty: no pending case")
        return
    # Plain lines: a case id is what the next command takes, never cut to a terminal's width.
    typer.echo(f"{'case':<36}  {'age':>7}  {'model':<7}  P(good)  {'why referred':<24}  model version")
    for c in cases:
        why = ", ".join(c.get("referral", []))
        typer.echo(
            f"{c['case_id']:<36}  {age(c.get('age_seconds')):>7}  {c['model_decision']:<7}  "
            f"{c['probability_good_credit']:>7.3f}  {why:<24}  {c.get('model_version', '')}"
        )
    more = f"; next page: --cursor {page['next_cursor']}" if page.get("next_cursor") else ""
    typer.echo(f"{len(cases)} pending case(s){more}")


def review_case(detail: dict[str, Any]) -> None:
    """`review show`: the case, the application, its reasons, the counterfactual and the reason codes."""
    console = Console(soft_wrap=True)
    status = detail["status"]
    if status == "decided":
        how = "overriding" if detail.get("override") else "agreeing with"
        status = (
            f"decided {detail['decision']} by {detail['decided_by']} at {detail['decided_at']} "
            f"({detail['reason_code']}), {how} the model"
        )
    typer.echo(f"case {detail['case_id']} (prediction {detail['prediction_id']}): {status}")
    typer.echo(
        f"model {detail['model_version']}: {detail['model_decision']}, "
        f"P(good) {detail['probability_good_credit']:.3f}; "
        f"referred {age(detail.get('age_seconds'))} ago ({', '.join(detail.get('referral', []))})"
    )
    if detail.get("note_on_record"):
        typer.echo(f"no application: {detail['note_on_record']}")
    if detail.get("application"):
        table = Table(show_header=True, box=None)
        table.add_column("feature")
        table.add_column("value")
        for name, value in detail["application"].items():
            table.add_row(name, str(value))
        console.print(table)
    for r in detail.get("reasons", []):
        meaning = f" ({r['meaning']})" if r.get("meaning") else ""
        typer.echo(f"  reason: {r['label']} = {r['value']}{meaning}, {r['contribution']:+.3f} to P(good)")
    cf = detail.get("counterfactual")
    if cf and cf.get("changes"):
        changes = "; ".join(f"{c['label']} {c['from']} -> {c['to']}" for c in cf["changes"])
        typer.echo(f"  the model would approve with: {changes} (P(good) {cf['probability_good_credit']:.3f})")
    elif cf:
        typer.echo(f"  counterfactual: {cf.get('message') or cf.get('status')}")
    typer.echo("reason codes: " + ", ".join(detail.get("reason_codes", {})))


def review_decided(case: dict[str, Any]) -> None:
    """`review decide`: what was recorded."""
    what = {"decided": "recorded", "corrected": "corrected", "unchanged": "unchanged (the same decision stands)"}
    override = "an override of the model's" if case.get("override") else "the model's decision"
    typer.echo(
        f"case {case['case_id']}: {case['decision']} ({case['reason_code']}) by {case['decided_by']} at "
        f"{case['decided_at']}, {override} {case['model_decision']}: {what.get(case['result'], case['result'])}"
    )
