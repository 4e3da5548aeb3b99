"""The report history's index.html: one self-contained page, charts drawn here as inline SVG.

No script, no external asset: the page's Content-Security-Policy allows inline styles and nothing
else, so it renders offline and a string a summary carries can never run, even if it escaped the
escaping (every summary string goes through html.escape).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from creditwatch_analytics.history import HistoryEntry

# Series colours: distinct, and each one the screenshot test looks for.
COLORS = {
    "drift_share": "#1f77b4",
    "score_psi": "#ff7f0e",
    "attribution_ndcg": "#2ca02c",
    "auc_realized": "#d62728",
    "auc_estimated": "#9467bd",
    "auc_estimated_drift": "#8c564b",
    "approval_drift": "#17becf",
    "approval_quality": "#393b79",
}
ATTRIBUTE_COLORS = ["#e377c2", "#bcbd22", "#7b4173", "#637939", "#843c39"]
REF_COLOR = "#888888"
W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 12, 30


def esc(value: object) -> str:
    """Escape for HTML text and attribute values alike."""
    return html.escape(str(value), quote=True)


@dataclass
class Point:
    """One run's value (with its interval) at its window's end."""

    at: datetime
    value: float
    low: float | None = None
    high: float | None = None
    label: str = ""


@dataclass
class Series:
    """One line of a chart."""

    key: str
    name: str
    color: str
    points: list[Point] = field(default_factory=list)
    band: bool = False


@dataclass
class RefLine:
    """A horizontal threshold line."""

    value: float
    label: str


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def chart(
    title: str,
    series: Sequence[Series],
    refs: Sequence[RefLine] = (),
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}",
    floor: float | None = None,
    ceiling: float | None = None,
    clip: tuple[float, float] | None = None,
    empty: str = "no data yet",
) -> str:
    """A time-series chart as an inline SVG figure, with its legend; a note instead when no series has data."""
    if clip is not None:
        # Intervals of small groups can be wide: drawn to the clip, the tooltips keep the true figures.
        lo_clip, hi_clip = clip
        series = [
            Series(s.key, s.name, s.color, [_clipped(p, lo_clip, hi_clip) for p in s.points], s.band) for s in series
        ]
    points = [p for s in series for p in s.points]
    legend = "".join(
        f'<span class="key"><i style="background:{s.color}"></i>{esc(s.name)} ({len(s.points)})</span>' for s in series
    )
    if not points:
        return (
            f'<figure class="chart empty" data-chart="{esc(title)}"><figcaption>{esc(title)}</figcaption>'
            f'<p class="none">{esc(empty)}</p></figure>'
        )
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None] + [r.value for r in refs]
    lo, hi = min(values), max(values)
    if floor is not None:
        lo = min(lo, floor)
    if ceiling is not None:
        hi = max(hi, ceiling)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 0.05)
    lo, hi = lo - pad, hi + pad
    t0, t1 = min(p.at for p in points), max(p.at for p in points)
    if t1 - t0 < timedelta(hours=1):
        t0, t1 = t0 - timedelta(hours=12), t1 + timedelta(hours=12)
    span = (t1 - t0).total_seconds()

    def x(at: datetime) -> float:
        return LEFT + (W - LEFT - RIGHT) * (at - t0).total_seconds() / span

    def y(v: float) -> float:
        return TOP + (H - TOP - BOTTOM) * (1 - (v - lo) / (hi - lo))

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" class="plot"/>']
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y(v) + 4:.1f}" class="ytick">{esc(fmt(v))}</text>')
    short = span < 3 * 86400
    for i in range(5):
        at = t0 + timedelta(seconds=span * i / 4)
        label = at.strftime("%m-%d %H:%M" if short else "%Y-%m-%d")
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(at):.1f}" y="{H - 10}" class="xtick" text-anchor="{anchor}">{esc(label)}</text>')
    for r in refs:
        parts.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(r.value):.1f}" y2="{y(r.value):.1f}" class="ref"/>'
            f'<text x="{W - RIGHT - 4}" y="{y(r.value) - 4:.1f}" class="reflabel">{esc(r.label)}</text>'
        )
    for s in series:
        pts = sorted(s.points, key=lambda p: p.at)
        banded = [p for p in pts if p.low is not None and p.high is not None]
        if s.band and banded:
            upper = " ".join(f"{x(p.at):.1f},{y(p.high or 0):.1f}" for p in banded)
            lower = " ".join(f"{x(p.at):.1f},{y(p.low or 0):.1f}" for p in reversed(banded))
            if len(banded) == 1:
                p = banded[0]
                parts.append(
                    f'<line x1="{x(p.at):.1f}" x2="{x(p.at):.1f}" y1="{y(p.low or 0):.1f}" y2="{y(p.high or 0):.1f}" '
                    f'stroke="{s.color}" stroke-opacity="0.35" stroke-width="8"/>'
                )
            else:
                parts.append(f'<polygon points="{upper} {lower}" fill="{s.color}" fill-opacity="0.18" class="band"/>')
    # Every band under every line: a translucent band over another series' line would change its colour.
    for s in series:
        pts = sorted(s.points, key=lambda p: p.at)
        if len(pts) > 1:
            line = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in pts)
            parts.append(f'<polyline points="{line}" stroke="{s.color}" class="line" data-series="{esc(s.key)}"/>')
        for p in pts:
            interval = f" ({fmt(p.low)}-{fmt(p.high)})" if p.low is not None and p.high is not None else ""
            tip = f"{s.name} {fmt(p.value)}{interval} · {p.at:%Y-%m-%d %H:%M} · {p.label}"
            parts.append(
                f'<circle cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="3.5" fill="{s.color}" data-series="{esc(s.key)}">'
                f"<title>{esc(tip)}</title></circle>"
            )
    svg = (
        f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{esc(title)}">'
        + "".join(parts)
        + "</svg>"
    )
    return (
        f'<figure class="chart" data-chart="{esc(title)}"><figcaption>{esc(title)}</figcaption>{svg}'
        f'<div class="legend">{legend}</div></figure>'
    )


def _clipped(p: Point, lo: float, hi: float) -> Point:
    """The point with its value and interval drawn within [lo, hi]; its label says the interval it had."""

    def c(v: float | None) -> float | None:
        return None if v is None else min(hi, max(lo, v))

    if p.low is not None and p.high is not None and (p.low < lo or p.high > hi):
        label = f"{p.label} (interval {p.low:.2f}-{p.high:.2f}, drawn clipped)"
    else:
        label = p.label
    return Point(p.at, c(p.value) or 0.0, c(p.low), c(p.high), label)


def _pct(v: float) -> str:
    return f"{v:.0%}"


def charts(entries: Sequence[HistoryEntry]) -> list[str]:
    """The trend charts of the page, oldest to newest along each axis."""
    c = COLORS
    drift = [e for e in entries if e.kind == "drift"]
    quality = [e for e in entries if e.kind == "quality"]

    def pts(es: Sequence[HistoryEntry], get: Callable[[HistoryEntry], float | None]) -> list[Point]:
        return [Point(_when(e.window_end), v, label=e.report_id) for e in es if (v := get(e)) is not None]

    def est(es: Sequence[HistoryEntry], get: Callable[[HistoryEntry], object]) -> list[Point]:
        out = []
        for e in es:
            value = get(e)
            v = getattr(value, "value", None)
            if v is not None:
                low, high = getattr(value, "low", None), getattr(value, "high", None)
                out.append(Point(_when(e.window_end), v, low, high, e.report_id))
        return out

    thresholds = {e.drift_threshold for e in drift if e.drift_threshold is not None}
    ndcg_thresholds = {e.attribution_threshold for e in drift if e.attribution_threshold is not None}
    validation = [e.auc_validation for e in entries if e.auc_validation is not None]
    reference = [e.approval_rate_reference for e in drift if e.approval_rate_reference is not None]
    attributes = sorted({r.attribute for e in drift for r in e.disparate_impact})
    ratio_series = [
        Series(
            f"di_{name}",
            f"{name}",
            ATTRIBUTE_COLORS[i % len(ATTRIBUTE_COLORS)],
            [
                Point(_when(e.window_end), r.ratio, r.low, r.high, e.report_id)
                for e in drift
                for r in e.disparate_impact
                if r.attribute == name and r.ratio is not None and r.judged
            ],
            band=True,
        )
        for i, name in enumerate(attributes)
    ]
    return [
        chart(
            "Drift share (share of features drifted)",
            [Series("drift_share", "drift share", COLORS["drift_share"], pts(drift, lambda e: e.drift_share))],
            [RefLine(t, f"threshold {t:g}") for t in sorted(thresholds)],
            floor=0.0,
            empty="no drift report yet",
        ),
        chart(
            "Score PSI (P(good) on frozen bins)",
            [Series("score_psi", "score PSI", COLORS["score_psi"], pts(drift, lambda e: e.score_psi))],
            [RefLine(0.10, "0.10 moderate"), RefLine(0.25, "0.25 significant")],
            fmt=lambda v: f"{v:.3f}",
            floor=0.0,
            empty="no stability figures yet",
        ),
        chart(
            "Attribution drift (NDCG of the importance order)",
            [Series("attribution_ndcg", "NDCG", COLORS["attribution_ndcg"], pts(drift, lambda e: e.attribution_ndcg))],
            [RefLine(t, f"threshold {t:g}") for t in sorted(ndcg_thresholds)],
            fmt=lambda v: f"{v:.3f}",
            ceiling=1.0,
            empty="no attribution figures yet",
        ),
        chart(
            "AUC: realized (outcomes) and estimated (CBPE), 95% intervals",
            [
                Series(
                    "auc_estimated",
                    "estimated (quality)",
                    c["auc_estimated"],
                    est(quality, lambda e: e.auc_estimated),
                    True,
                ),
                Series(
                    "auc_estimated_drift",
                    "estimated (drift window)",
                    COLORS["auc_estimated_drift"],
                    est(drift, lambda e: e.auc_estimated),
                    True,
                ),
                # Drawn last, on top: the outcomes are what the estimates are judged by.
                Series("auc_realized", "realized", c["auc_realized"], est(quality, lambda e: e.auc_realized), True),
            ],
            [RefLine(validation[0], f"validation {validation[0]:.3f}")] if validation else [],
            fmt=lambda v: f"{v:.3f}",
            empty="no quality figures yet: they come with the quality job and the estimator",
        ),
        chart(
            "Disparate impact ratio by protected attribute (judged groups), 95% intervals",
            ratio_series,
            [RefLine(0.8, "four-fifths 0.8")],
            floor=0.0,
            ceiling=1.0,
            clip=(0.0, 1.25),
            empty="no fairness figures yet",
        ),
        chart(
            "Approval rate",
            [
                Series("approval_drift", "drift window", c["approval_drift"], pts(drift, lambda e: e.approval_rate)),
                Series(
                    "approval_quality", "quality cohort", c["approval_quality"], pts(quality, lambda e: e.approval_rate)
                ),
            ],
            [RefLine(reference[0], f"reference {reference[0]:.0%}")] if reference else [],
            fmt=_pct,
            empty="no approval figures yet",
        ),
    ]


def _badge(text: str, level: str) -> str:
    return f'<span class="badge {level}">{esc(text)}</span>'


def verdict_cells(e: HistoryEntry) -> tuple[str, str]:
    """The verdict and fairness cells of one row."""
    if e.kind == "drift":
        verdict = _badge("drift detected", "alert") if e.verdict == "drift" else _badge("no drift", "ok")
        if e.attribution_drifted:
            verdict += " " + _badge("attribution drift", "warn")
        if e.score_psi_band and e.score_psi_band != "stable":
            verdict += " " + _badge(f"score PSI {e.score_psi_band}", "warn")
    else:
        level = {"ok": "ok", "degraded": "alert"}.get(e.verdict, "na")
        verdict = _badge(f"quality {e.verdict}", level)
    if e.fairness_alerts:
        fairness = _badge("below 0.8: " + ", ".join(e.fairness_alerts), "alert")
    elif e.disparate_impact:
        judged = [r for r in e.disparate_impact if r.judged and r.ratio is not None]
        # No alert is not "fair": a ratio below 0.8 the training reference shares is shown, in red, not paged.
        fairness = _badge("no alert", "ok") + "".join(
            f' <span class="ratio{" low" if (r.ratio or 0) < 0.8 else ""}">{esc(r.attribute)} {r.ratio:.2f}</span>'
            for r in judged
        )
    else:
        fairness = _badge("n/a", "na")
    return verdict, fairness


def figures_cell(e: HistoryEntry) -> str:
    """The row's key figures, in words."""
    bits = []
    if e.drift_share is not None:
        bits.append(f"drift share {e.drift_share:.2f}")
    if e.drifted_features:
        bits.append("drifted: " + ", ".join(e.drifted_features[:6]) + (" ..." if len(e.drifted_features) > 6 else ""))
    if e.score_psi is not None:
        bits.append(f"score PSI {e.score_psi:.3f}")
    if e.attribution_ndcg is not None:
        bits.append(f"NDCG {e.attribution_ndcg:.3f}")
    if e.auc_realized and e.auc_realized.value is not None:
        bits.append(f"AUC {e.auc_realized.value:.3f}")
    if e.auc_estimated and e.auc_estimated.value is not None:
        bits.append(f"est. AUC {e.auc_estimated.value:.3f}")
    if e.label_coverage is not None:
        bits.append(f"labels {e.label_coverage:.0%}")
    if e.approval_rate is not None:
        bits.append(f"approval {e.approval_rate:.1%}")
    bits.extend(e.reasons[:3])
    return esc(" · ".join(bits) or e.message)


def table(entries: Sequence[HistoryEntry], links: Mapping[str, str]) -> str:
    """Every report, newest first."""
    rows = []
    for e in entries:
        verdict, fairness = verdict_cells(e)
        url = links.get(e.report_id)
        link = f'<a href="{esc(url)}" rel="noopener noreferrer">open</a>' if url else '<span class="na">-</span>'
        rows.append(
            f'<tr data-report-id="{esc(e.report_id)}" data-kind="{esc(e.kind)}">'
            f'<td class="when">{esc(e.generated_at)}</td><td>{esc(e.kind)}</td>'
            f'<td class="when">{esc(e.window_start)}<br>{esc(e.window_end)}</td>'
            f"<td>{e.rows if e.rows is not None else '-'}</td>"
            f"<td>{verdict}</td><td>{fairness}</td><td>{figures_cell(e)}</td>"
            f"<td>{esc(e.model_version or '-')}</td><td>{link}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Generated (UTC)", "Kind", "Window", "Rows", "Verdict", "Fairness", "Figures", "Model", "Report")
    )
    return f'<table id="reports"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}p.meta{color:#555;margin:0 0 16px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(660px,1fr));gap:12px}
figure.chart{margin:0;border:1px solid #ddd;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}p.none{color:#777;height:120px}
svg{display:block;max-width:100%;height:auto}
.plot{fill:#fafafa;stroke:#ccc}.grid{stroke:#e6e6e6}.ref{stroke:#888;stroke-dasharray:5 4}
.line{fill:none;stroke-width:2.5}
.ytick{font-size:10px;text-anchor:end;fill:#555}.xtick{font-size:10px;fill:#555}
.reflabel{font-size:10px;text-anchor:end;fill:#666}
.legend{font-size:12px;color:#444}.key{margin-right:12px}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;opacity:.8}
table{border-collapse:collapse;width:100%;margin-top:20px;font-size:13px}
th,td{border-bottom:1px solid #e3e3e3;padding:5px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
.badge{display:inline-block;padding:1px 6px;border-radius:8px;font-size:12px;white-space:nowrap}
.badge.ok{background:#e3f4e3;color:#1d5e1d}.badge.warn{background:#fff1d6;color:#7a5200}
.badge.alert{background:#fde2e1;color:#8b1a14}.badge.na{background:#eee;color:#555}
td.when{white-space:nowrap;font-size:12px}
.ratio{font-size:12px;color:#444;white-space:nowrap}.ratio.low{color:#b3261e;font-weight:600}.na{color:#999}
"""


def render_index(
    entries: Sequence[HistoryEntry],
    links: Mapping[str, str],
    *,
    generated_at: str,
    links_expire_at: int | None = None,
    note: str | None = None,
) -> bytes:
    """The whole page: header, trend charts, then every report newest first with its link."""
    drift = sum(1 for e in entries if e.kind == "drift")
    quality = len(entries) - drift
    if links_expire_at is not None:
        until = datetime.fromtimestamp(links_expire_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        validity = (
            f"Report links on this page open until {until} (each job run rewrites the page with fresh ones); "
            "each opening is recorded."
        )
    else:
        validity = note or "Report links point at copies saved beside this page."
    body = (
        "<h1>creditwatch: report history</h1>"
        f'<p class="meta">{len(entries)} report(s): {drift} drift, {quality} quality · '
        f"page written {esc(generated_at)} · "
        f"{esc(validity)}</p>"
        f'<div class="charts">{"".join(charts(entries))}</div>'
        f"{table(entries, links)}"
    )
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        # No script, no remote anything: the page needs nothing but itself.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        # The links on this page are credentials: never sent onward as a Referer.
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>creditwatch report history</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return page.encode()
