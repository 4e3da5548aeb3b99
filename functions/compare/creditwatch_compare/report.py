"""The comparison report's HTML: the verdict first, then the swap set, both models over time, outcomes, fairness."""

from __future__ import annotations

from creditwatch_analytics.charts import SHARE, Chart, H, Point, RefLine, Series, W, chart, when
from creditwatch_analytics.comparison.models import ComparisonFigures, ComparisonSummary
from creditwatch_analytics.report_page import render as render_template


def approval_chart(figures: ComparisonFigures) -> Chart:
    """Both models' approval rate per day of shadow traffic."""
    champion = [
        Point(when(f"{d.day}T12:00:00Z"), d.approval_rate_champion, label=f"{d.rows} rows") for d in figures.days
    ]
    challenger = [
        Point(when(f"{d.day}T12:00:00Z"), d.approval_rate_challenger, label=f"{d.rows} rows") for d in figures.days
    ]
    return chart(
        "Approval rate per day: champion and challenger on the same applications",
        [
            Series("champion", f"champion {figures.champion_version}", "#1f77b4", champion),
            Series("challenger", f"challenger {figures.challenger_version}", "#e6550d", challenger),
        ],
        [RefLine(whole, "champion, whole window")]
        if (whole := figures.approval_rate.get("champion")) is not None
        else [],
        SHARE,
        "no shadow traffic with times",
    )


def render(summary: ComparisonSummary) -> bytes:
    """The whole page (our template, no Evidently part)."""
    assert summary.figures is not None
    return render_template(
        "comparison_report.html.j2", s=summary, f=summary.figures, c=approval_chart(summary.figures), W=W, H=H
    ).encode()
