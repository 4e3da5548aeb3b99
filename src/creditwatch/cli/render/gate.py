"""The model gate's verdict and table (`creditwatch model gate`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def gate_result(result: dict[str, Any]) -> None:
    """One line with the verdict and its reason, then a row per check."""
    console = Console(soft_wrap=True)
    verdict = "[green]PASS[/]" if result["passed"] else "[red]FAIL[/]"
    console.print(f"{verdict} {result['reason']}", highlight=False)
    table = Table(show_header=True)
    for col in ("check", "value", "limit", "ok"):
        table.add_column(col)
    for row in result["rows"]:
        table.add_row(row["check"], row["value"], row["limit"], "yes" if row["ok"] else "NO")
    console.print(table)
