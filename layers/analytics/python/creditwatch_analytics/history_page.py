"""The report history's index.html: one self-contained page, its charts inline SVG, from one template.

No script, no external asset: the page's Content-Security-Policy allows inline styles and nothing
else, so it renders offline; and every string a summary carries goes through the template's autoescape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from creditwatch_analytics.charts import RATIO, SHARE, Chart, H, Mark, Point, RefLine, Scale, Series, W, chart
from creditwatch_analytics.charts import when as _when
from creditwatch_analytics.history_entry import Estimate, HistoryEntry, RatioPoint
from creditwatch_analytics.history_moves import ChampionMove, ChampionMoves
from creditwatch_analytics.report_page import render
from creditwatch_common import words

# Series colours: distinct, and each one the screenshot test looks for. A metric's second and later window
# lengths are dashed, in WINDOW_COLORS (a 7-day and a 1-hour window are two series, never one line).
COLORS = {
    "drift_share": "#1f77b4",
    "score_psi": "#ff7f0e",
    "attribution_ndcg": "#2ca02c",
    "auc_realized": "#d62728",
    "auc_estimated": "#9467bd",
    "auc_estimated_drift": "#8c564b",
    "approval_drift": "#17becf",
    "approval_quality": "#393b79",
    "approval_challenger": "#e6550d",
    "referral_rate": "#3182bd",
    "override_rate": "#fd8d3c",
    "override_quality": "#756bb1",
}
WINDOW_COLORS = ["#000000", "#7f7f7f"]
# Realized AUC on booked loans (approved applicants with outcomes): drawn only when a quality run judged them.
BOOKED_COLOR = "#e7969c"
ATTRIBUTE_COLORS = ["#e377c2", "#bcbd22", "#7b4173", "#637939", "#843c39"]


def window_hours(e: HistoryEntry) -> int:
    """The length of an entry's window in hours."""
    return round((_when(e.window_end) - _when(e.window_start)).total_seconds() / 3600)


def window_label(hours: int) -> str:
    """A window's length in words: '7 d', '1 h', '36 h'."""
    return f"{hours // 24} d" if hours % 24 == 0 and hours >= 24 else f"{hours} h"


def by_window(
    key: str,
    name: str,
    entries: Sequence[HistoryEntry],
    get: Callable[[HistoryEntry], float | Estimate | None],
    color: str | None = None,
) -> list[Series]:
    """One series per window length (most runs, then longest first), so different windows are never one line."""
    groups: dict[int, list[HistoryEntry]] = {}
    for e in entries:
        groups.setdefault(window_hours(e), []).append(e)
    out = []
    for i, (hours, es) in enumerate(sorted(groups.items(), key=lambda kv: (-len(kv[1]), -kv[0]))):
        points = []
        for e in es:
            got = get(e)
            value = got.value if isinstance(got, Estimate) else got
            if value is not None:
                low, high = (got.low, got.high) if isinstance(got, Estimate) else (None, None)
                points.append(Point(_when(e.window_end), value, low, high, e.report_id))
        label = window_label(hours)
        first = color or COLORS[key]
        color_i = first if i == 0 else WINDOW_COLORS[(i - 1) % len(WINDOW_COLORS)]
        series_key = key if i == 0 else f"{key}_{label.replace(' ', '')}"
        out.append(Series(series_key, f"{name}, {label} window", color_i, points, dashed=i > 0))
    return out or [Series(key, name, color or COLORS[key])]


def ratio_series(entries: Sequence[HistoryEntry]) -> list[Series]:
    """Disparate impact by attribute, judged groups only."""
    attributes = sorted({r.attribute for e in entries for r in e.disparate_impact})
    return [
        Series(
            f"di_{name}",
            name,
            ATTRIBUTE_COLORS[i % len(ATTRIBUTE_COLORS)],
            [
                Point(_when(e.window_end), r.ratio, r.low, r.high, e.report_id)
                for e in entries
                for r in e.disparate_impact
                if r.attribute == name and r.ratio is not None and r.judged
            ],
        )
        for i, name in enumerate(attributes)
    ]


def move_marks(moves: Sequence[ChampionMove]) -> list[Mark]:
    """The champion's moves as the charts' marks."""
    return [Mark(m.at, m.kind, m.version or "", m.caption, m.tip, m.color) for m in moves]


def charts(entries: Sequence[HistoryEntry], moves: Sequence[ChampionMove] = ()) -> list[Chart]:
    """The trend charts of the page, oldest to newest along each axis, each marked where the champion moved."""
    marks = move_marks(moves)
    drift = [e for e in entries if e.kind == "drift"]
    quality = [e for e in entries if e.kind == "quality"]
    comparison = [e for e in entries if e.kind == "comparison"]
    thresholds = sorted({e.drift_threshold for e in drift if e.drift_threshold is not None})
    ndcg = sorted({e.attribution_threshold for e in drift if e.attribution_threshold is not None})
    validation = [e.auc_validation for e in entries if e.auc_validation is not None]
    reference = [e.approval_rate_reference for e in drift if e.approval_rate_reference is not None]
    auc = Scale(0.5, 1.0, lambda v: f"{v:.2f}")
    return [
        chart(
            "Drift share (share of features drifted)",
            by_window("drift_share", "drift share", drift, lambda e: e.drift_share),
            [RefLine(t, f"threshold {t:g}") for t in thresholds],
            SHARE,
            "no drift report yet",
            marks,
        ),
        chart(
            "Score PSI (P(good) on frozen bins)",
            by_window("score_psi", "score PSI", drift, lambda e: e.score_psi),
            [RefLine(0.10, "0.10 moderate"), RefLine(0.25, "0.25 significant")],
            Scale(0.0, 0.3, lambda v: f"{v:.2f}"),
            "no stability figures yet",
            marks,
        ),
        chart(
            "Attribution drift (NDCG of the importance order)",
            by_window("attribution_ndcg", "NDCG", drift, lambda e: e.attribution_ndcg),
            [RefLine(t, f"threshold {t:g}") for t in ndcg],
            RATIO,
            "no attribution figures yet",
            marks,
        ),
        chart(
            "AUC: realized (outcomes) and estimated (CBPE), 95% intervals",
            [
                *by_window("auc_estimated", "estimated (quality)", quality, lambda e: e.auc_estimated),
                *by_window("auc_estimated_drift", "estimated (drift)", drift, lambda e: e.auc_estimated),
                # Drawn last, on top: the outcomes are what the estimates are judged by. Booked loans rank less
                # well than all applicants (a narrower range of scores): their own series, never one line.
                *by_window("auc_realized", "realized", [e for e in quality if not _booked(e)], realized_auc),
                *(
                    by_window("auc_realized_booked", "realized (booked loans)", booked, realized_auc, BOOKED_COLOR)
                    if (booked := [e for e in quality if _booked(e)])
                    else []
                ),
            ],
            [RefLine(validation[0], f"validation {validation[0]:.3f}")] if validation else [],
            auc,
            "no quality figures yet: they come with the quality job and the estimator",
            marks,
        ),
        chart(
            "Disparate impact ratio by protected attribute (judged groups), 95% intervals",
            ratio_series(drift),
            [RefLine(0.8, "four-fifths 0.8")],
            Scale(0.0, 1.0, clip=1.25),
            "no fairness figures yet",
            marks,
        ),
        chart(
            "Approval rate",
            [
                *by_window("approval_drift", "drift", drift, lambda e: e.approval_rate),
                *by_window("approval_quality", "quality cohort", quality, lambda e: e.approval_rate),
                *by_window(
                    "approval_challenger", "challenger (shadow)", comparison, lambda e: e.approval_rate_challenger
                ),
            ],
            [RefLine(reference[0], f"reference {reference[0]:.0%}")] if reference else [],
            SHARE,
            "no approval figures yet",
            marks,
        ),
        chart(
            "Human review: referral rate and override rate",
            [
                *by_window("referral_rate", "referred", drift, lambda e: e.referral_rate),
                # Of the cases a reviewer decided, the share against the model: near zero may be automation bias.
                *by_window("override_rate", "overridden (drift window)", drift, lambda e: e.override_rate),
                *by_window("override_quality", "overridden (quality cohort)", quality, lambda e: e.override_rate),
            ],
            [],
            SHARE,
            "no review figures yet: the referral rules are off (ReviewBand, ReviewOutOfRange, ReviewNovelty, "
            "ReviewAuditShare) or no run counted referrals",
            marks,
        ),
    ]


@dataclass
class Row:
    """One report's row: its verdicts in words."""

    entry: HistoryEntry
    written: str
    window: str
    verdicts: list[tuple[str, str]]
    fairness: list[tuple[str, str]]
    figures: str
    link: str | None


def _ratio_words(e: HistoryEntry, r: RatioPoint) -> tuple[str, str]:
    if e.kind == "quality":
        text = words.equal_opportunity_verdict(
            attribute=r.attribute,
            ratio=r.ratio,
            low=r.low,
            high=r.high,
            lowest_group=r.lowest_group,
            highest_group=r.highest_group,
            judged=r.judged,
        )
        return text, "na" if not r.judged else "ok"
    threshold = e.fairness_threshold or 0.8
    text = words.fairness_verdict(
        attribute=r.attribute,
        ratio=r.ratio,
        low=r.low,
        high=r.high,
        lowest_group=r.lowest_group,
        highest_group=r.highest_group,
        threshold=threshold,
        judged=r.judged,
        alert=r.alert,
        as_in_training=r.as_in_reference,
    )
    level = "alert" if r.alert else "na" if not r.judged or r.ratio is None else "warn" if r.ratio < threshold else "ok"
    return text, level


def verdicts(e: HistoryEntry) -> list[tuple[str, str]]:
    """The row's verdicts in words, each with its level (alert, warn, ok, na)."""
    if e.kind == "comparison":
        level = {"promote": "ok", "reject": "alert", "hold": "warn"}.get(e.verdict, "na")
        return [(f"challenger {e.challenger_version}: {e.verdict}", level)]
    if e.kind == "quality":
        level = {"ok": "ok", "degraded": "alert", "error": "alert"}.get(e.verdict, "na")
        return [(words.quality_verdict(e.verdict), level)]
    out = [
        (
            words.drift_verdict(len(e.drifted_features), e.n_features, e.verdict == "drift"),
            "alert" if e.verdict == "drift" else "ok",
        )
    ]
    if e.attribution_drifted is not None and e.attribution_ndcg is not None and e.attribution_threshold is not None:
        out.append(
            (
                words.attribution_verdict(e.attribution_drifted, e.attribution_ndcg, e.attribution_threshold),
                "alert" if e.attribution_drifted else "ok",
            )
        )
    if e.score_psi_band and e.score_psi_band != "stable":
        out.append((words.psi_verdict(e.score_psi_band, e.score_psi), "warn"))
    return out


def _booked(e: HistoryEntry) -> bool:
    return e.population == "booked_loans"


def realized_auc(e: HistoryEntry) -> Estimate | None:
    """A quality run's realized AUC (from outcomes)."""
    return e.auc_realized


def figures(e: HistoryEntry) -> str:
    """The row's key figures, in words."""
    bits = []
    if e.drifted_features:
        bits.append("drifted: " + ", ".join(e.drifted_features[:6]) + (" ..." if len(e.drifted_features) > 6 else ""))
    if e.drift_share is not None:
        bits.append(f"drift share {e.drift_share:.2f}")
    if e.score_psi is not None:
        bits.append(f"score PSI {e.score_psi:.3f}")
    realized = "AUC (booked loans)" if _booked(e) else "AUC"
    for name, f in ((realized, e.auc_realized), ("est. AUC", e.auc_estimated)):
        if f is not None and f.value is not None:
            bits.append(f"{name} {f.value:.3f}{words.interval(f.low, f.high, '{:.3f}')}")
    if e.label_coverage is not None:
        bits.append(f"labels {e.label_coverage:.0%}")
    if e.approval_rate is not None:
        bits.append(f"approval {e.approval_rate:.1%}")
    if e.referral_rate is not None:
        bits.append(f"referred {e.referral_rate:.1%}")
    if e.override_rate is not None and e.reviewed_rows:
        bits.append(f"overridden {e.override_rate:.0%} of {e.reviewed_rows} reviewed")
    if e.approval_rate_challenger is not None:
        bits.append(f"challenger's approval {e.approval_rate_challenger:.1%}")
    if e.auc_difference is not None and e.auc_difference.value is not None:
        d = e.auc_difference
        bits.append(f"AUC difference {d.value:+.3f}{words.interval(d.low, d.high, '{:+.3f}')}")
    bits.extend(e.reasons[:3])
    return " · ".join(bits) or e.message


def row(e: HistoryEntry, links: Mapping[str, str]) -> Row:
    """What the table shows of one entry."""
    ratios = e.disparate_impact if e.kind == "drift" else e.equal_opportunity if e.kind == "quality" else []
    return Row(
        entry=e,
        written=e.written_at or e.generated_at,
        window=window_label(window_hours(e)),
        verdicts=verdicts(e),
        fairness=[_ratio_words(e, r) for r in ratios]
        or [("in the comparison's report" if e.kind == "comparison" else "fairness not computed", "na")],
        figures=figures(e),
        link=links.get(e.report_id),
    )


def render_index(
    entries: Sequence[HistoryEntry],
    links: Mapping[str, str],
    *,
    generated_at: str,
    links_expire_at: int | None = None,
    note: str | None = None,
    champion: ChampionMoves | None = None,
) -> bytes:
    """The whole page: header, trend charts (marked where the champion moved), then every report newest first.

    `champion`: the registry's champion moves (None: no registry was named, nothing is said of moves).
    """
    if links_expire_at is not None:
        until = datetime.fromtimestamp(links_expire_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        validity = (
            f"Report links on this page open until {until} (each job run rewrites the page with fresh ones); "
            "each opening is recorded."
        )
    else:
        validity = note or "Report links point at copies saved beside this page."
    drift = sum(1 for e in entries if e.kind == "drift")
    comparisons = sum(1 for e in entries if e.kind == "comparison")
    return render(
        "history_index.html.j2",
        entries=entries,
        drift=drift,
        quality=len(entries) - drift - comparisons,
        comparisons=comparisons,
        generated_at=generated_at,
        validity=validity,
        charts=charts(entries, champion.moves if champion else ()),
        champion=champion,
        moves=list(reversed(champion.moves)) if champion else [],
        rows=[row(e, links) for e in entries],
        W=W,
        H=H,
    ).encode()
