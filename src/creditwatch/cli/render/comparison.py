"""`creditwatch model compare`'s output: the verdict, the swap set, both models side by side."""

from __future__ import annotations

from typing import Any

import typer


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _estimate(e: dict[str, Any] | None, fmt: str = "{:+.3f}") -> str:
    if not e or e.get("value") is None:
        return "n/a"
    text = fmt.format(e["value"])
    if e.get("low") is not None and e.get("high") is not None:
        text += f" (95% {fmt.format(e['low'])} to {fmt.format(e['high'])})"
    return text


def comparison(summary: dict[str, Any]) -> None:
    """A compare run's summary in a few lines (the figures live in its report)."""
    for line in comparison_lines(summary):
        typer.echo(line)


def comparison_lines(summary: dict[str, Any]) -> list[str]:
    """The lines `comparison` prints (the demo prints them too)."""
    f = summary.get("figures")
    if summary.get("status") != "ok" or not f:
        return [f"{summary.get('status')}: {summary.get('message')}"]
    lines: list[str] = []
    lines.append(
        f"challenger {f['challenger_version']} against champion {f['champion_version']}: "
        f"{str(f['verdict']).upper()} ({summary['window_start']} to {summary['window_end']})"
    )
    for reason in f["reasons"]:
        lines.append(f"  {reason}")
    s = f["swap_set"]
    lines.append(
        f"swap set ({f['shadow_rows']} applications): approved by both {s['both']}, champion only "
        f"{s['champion_only']}, challenger only {s['challenger_only']}, neither {s['neither']}"
    )
    rates = f["approval_rate"]
    lines.append(
        f"approval rate: champion {_rate(rates.get('champion'))}, challenger {_rate(rates.get('challenger'))}, "
        f"change {_estimate(f['approval_rate_change'], '{:+.1%}')}; score PSI {f.get('score_psi')}"
    )
    realized = f["realized"]
    if realized["rows"]:
        diff = realized["difference"]
        lines.append(
            f"matured outcomes scored by both: {realized['rows']}; AUC difference {_estimate(diff.get('auc'))}, "
            f"expected cost difference {_estimate(diff.get('expected_cost'))}"
        )
    else:
        lines.append("matured outcomes scored by both: none yet")
    for g in f["fairness"]:
        if g["judged"]:
            lines.append(
                f"disparate impact, {g['attribute']}: champion {_estimate(g['champion'], '{:.2f}')}, challenger "
                f"{_estimate(g['challenger'], '{:.2f}')}"
            )
    if summary.get("report_url"):
        lines.append(f"report: {summary['report_url']}")
    return lines
