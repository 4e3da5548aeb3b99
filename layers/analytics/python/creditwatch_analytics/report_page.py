"""Our sections of the drift and quality reports, from autoescaped templates, joined to Evidently's page."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from creditwatch_analytics.summaries import DriftSummary, FeatureDrift, QualitySummary
from creditwatch_common import words

TEMPLATES = Path(__file__).resolve().parent / "templates"
_BODY = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)


@cache
def environment() -> jinja2.Environment:
    """The one template environment of every page we write: autoescaped, strict about missing names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["words"] = words
    env.filters["pct"] = lambda v, digits=1: "n/a" if v is None else f"{v:.{digits}%}"
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{v:.{digits}f}"
    return env


def render(template: str, **context: Any) -> str:
    """One template rendered with the context given."""
    return environment().get_template(template).render(**context)


def add_to_report(report_html: bytes, sections: str) -> bytes:
    """Evidently's page with our sections first: they lead, Evidently's detail follows.

    The rule: the sections go right after the page's opening `<body ...>` tag (the first one). A page
    without a body tag gets them right after `</head>`, or at the very start when it has no head either;
    the page's own bytes are kept as they were around them.
    """
    added = sections.encode("utf-8")
    at = _BODY.search(report_html) or _HEAD_END.search(report_html)
    cut = at.end() if at else 0
    return report_html[:cut] + added + report_html[cut:]


def drifted_by_effect(summary: DriftSummary) -> list[tuple[FeatureDrift, float | None]]:
    """The drifted features with their PSI (the effect), largest first; without PSI, by the test's own figure."""
    psi = {c.name: c.psi for c in summary.stability.features} if summary.stability else {}
    drifted = [(f, psi.get(f.name)) for f in summary.features if f.drifted]

    def effect(item: tuple[FeatureDrift, float | None]) -> tuple[float, float]:
        feature, value = item
        # A distance grows with the drift, a p-value shrinks: either way, larger first.
        own = feature.value or 0.0
        return (value if value is not None else -1.0, own if feature.statistic == "distance" else -own)

    return sorted(drifted, key=effect, reverse=True)


def drift_sections(
    summary: DriftSummary, validation: Mapping[str, Any], shown: Sequence[tuple[str, str, str]] = ()
) -> str:
    """Our sections of a drift report: the verdict first, then attribution, fairness, stability, estimate.

    `validation`: the model's holdout figures; `shown`: the estimated figures as (name, label, format).
    """
    return render(
        "drift_report.html.j2",
        s=summary,
        drifted=drifted_by_effect(summary),
        validation=validation,
        shown=shown,
        estimate=_est,
    )


def quality_sections(summary: QualitySummary, labels: Mapping[str, str]) -> str:
    """Our sections of a quality report: the verdict and its figures first, then calibration, decisions, fairness."""
    names = [k for k in labels if k in summary.realized or k in summary.estimated or k in summary.validation]
    return render("quality_report.html.j2", s=summary, labels=labels, names=names)


def _est(figure: Any) -> tuple[float | None, float | None, float | None]:
    """(value, low, high) of a figure given as a model or as a mapping."""
    if figure is None:
        return None, None, None
    if isinstance(figure, Mapping):
        return figure.get("value"), figure.get("low"), figure.get("high")
    return figure.value, figure.low, figure.high
