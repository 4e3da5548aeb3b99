"""Time-series charts as geometry for inline SVG: y from the quantity's natural floor, intervals as whiskers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from creditwatch_common import words

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 12, 30
# Interval whiskers of series drawn at one time stand this far apart (px), so none hides another.
OFFSET = 5.0


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
    # Dashed: a metric's runs over a shorter (or rarer) window, beside its main series.
    dashed: bool = False


@dataclass
class RefLine:
    """A horizontal threshold line."""

    value: float
    label: str


@dataclass(frozen=True)
class Scale:
    """The y range a quantity is drawn on: from its natural floor, grown to hold the data."""

    floor: float
    top: float
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}"
    # Where drawing stops (values beyond are drawn at the clip, their tooltip keeps the figure).
    clip: float | None = None


SHARE = Scale(0.0, 1.0, lambda v: f"{v:.0%}")
RATIO = Scale(0.0, 1.0)


@dataclass
class Marker:
    """One point as drawn: its place, its whisker (the interval) and its tooltip."""

    x: float
    y: float
    low: float | None
    high: float | None
    tip: str


@dataclass
class DrawnSeries:
    """A series in SVG coordinates."""

    key: str
    name: str
    color: str
    count: int
    line: str
    markers: list[Marker]
    dashed: bool = False


@dataclass(frozen=True)
class Mark:
    """An event at one time (a champion's move), drawn as a vertical line across the plot."""

    at: datetime
    kind: str
    version: str
    label: str
    tip: str
    color: str


@dataclass
class DrawnMark:
    """A mark in SVG coordinates: its x, and where its label stands (end-anchored near the right edge)."""

    mark: Mark
    x: float
    label_x: float
    label_y: float
    anchor: str


@dataclass
class Chart:
    """What the template draws for one chart."""

    title: str
    empty: str
    series: list[DrawnSeries] = field(default_factory=list)
    yticks: list[tuple[float, str]] = field(default_factory=list)
    xticks: list[tuple[float, str, str]] = field(default_factory=list)
    refs: list[tuple[float, str]] = field(default_factory=list)
    marks: list[DrawnMark] = field(default_factory=list)
    plot: tuple[int, int, int, int] = (LEFT, TOP, W - LEFT - RIGHT, H - TOP - BOTTOM)


def when(stamp: str) -> datetime:
    """An ISO 8601 stamp as an aware UTC datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def nice_step(span: float) -> float:
    """A round tick step that cuts the span into at most five parts (0.05, 0.1, 0.2, 0.25, 0.5, 1, ...)."""
    base = 10 ** math.floor(math.log10(span / 5)) if span > 0 else 0.1
    return next(base * m for m in (1, 2, 2.5, 5, 10) if span / (base * m) <= 5)


def chart(
    title: str,
    series: Sequence[Series],
    refs: Sequence[RefLine],
    scale: Scale,
    empty: str,
    marks: Sequence[Mark] = (),
) -> Chart:
    """A time-series chart's geometry: y from the scale's floor, every series its own line and whiskers.

    Marks within the time axis are vertical lines at their time (between the series' offsets, where a
    point at that time would stand); those outside it are left out (the page lists every one).
    """
    series = [s for s in series if s.points] or list(series)
    points = [p for s in series for p in s.points]
    out = Chart(title, empty)
    if not points:
        out.series = [DrawnSeries(s.key, s.name, s.color, 0, "", []) for s in series]
        return out
    clip = scale.clip
    values = [v for p in points for v in (p.value, p.low, p.high) if v is not None] + [r.value for r in refs]
    drawn = [min(v, clip) for v in values] if clip is not None else values
    # The natural floor (0 for shares, rates and ratios), lower only for data below it, never below 0.
    lo = max(0.0, min(scale.floor, math.floor(min(drawn) * 10) / 10))
    top = max(scale.top, *drawn)
    step = nice_step(top - lo)
    hi = lo + step * math.ceil(round((top - lo) / step, 9))
    t0, t1 = min(p.at for p in points), max(p.at for p in points)
    if t1 - t0 < timedelta(hours=1):
        t0, t1 = t0 - timedelta(hours=12), t1 + timedelta(hours=12)
    span = (t1 - t0).total_seconds()
    width = W - LEFT - RIGHT - 2 * OFFSET * len(series)

    def x(at: datetime, i: int) -> float:
        return LEFT + OFFSET * (2 * i + 1) + width * (at - t0).total_seconds() / span

    def y(v: float) -> float:
        v = min(max(v, lo), clip if clip is not None else v)
        return TOP + (H - TOP - BOTTOM) * (1 - (v - lo) / (hi - lo))

    out.yticks = [(y(lo + step * i), scale.fmt(lo + step * i)) for i in range(round((hi - lo) / step) + 1)]
    short = span < 3 * 86400
    for i in range(5):
        at = t0 + timedelta(seconds=span * i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        label = at.strftime("%m-%d %H:%M" if short else "%Y-%m-%d")
        out.xticks.append((LEFT + (W - LEFT - RIGHT) * i / 4, label, anchor))
    out.refs = [(y(r.value), r.label) for r in refs]
    for m in sorted(marks, key=lambda m: m.at):
        if t0 <= m.at <= t1:
            mx = LEFT + OFFSET * len(series) + width * (m.at - t0).total_seconds() / span
            # The label runs towards the wider side of the plot, so it is never cut at an edge.
            right = mx > (LEFT + W - RIGHT) / 2
            # Labels of nearby moves take turns on three lines rather than overwrite each other.
            row = TOP + 10 + 11 * (len(out.marks) % 3)
            out.marks.append(DrawnMark(m, mx, mx - 3 if right else mx + 3, row, "end" if right else "start"))
    for i, s in enumerate(series):
        pts = sorted(s.points, key=lambda p: p.at)
        markers = []
        for p in pts:
            interval = words.interval(p.low, p.high, "{:.3f}")
            clipped = " (drawn clipped)" if clip is not None and max(p.value, p.high or 0.0) > clip else ""
            tip = f"{s.name} {p.value:.3f}{interval}{clipped} · {p.at:%Y-%m-%d %H:%M} · {p.label}"
            markers.append(
                Marker(
                    x(p.at, i),
                    y(p.value),
                    y(p.low) if p.low is not None and p.high is not None else None,
                    y(p.high) if p.low is not None and p.high is not None else None,
                    tip,
                )
            )
        line = " ".join(f"{m.x:.1f},{m.y:.1f}" for m in markers) if len(markers) > 1 else ""
        out.series.append(DrawnSeries(s.key, s.name, s.color, len(pts), line, markers, s.dashed))
    return out
