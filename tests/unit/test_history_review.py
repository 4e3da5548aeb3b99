"""The report history's human-review chart: each drift window's referral and override rates, each cohort's overrides."""

from __future__ import annotations

import re

from history_samples import drift_summary, quality_summary

from creditwatch_analytics.history import entry_from_summary, newest_first
from creditwatch_analytics.history_page import render_index

TITLE = "Human review: referral rate and override rate"


def review_chart(page: str) -> str:
    found = re.search(rf'data-chart="{re.escape(TITLE)}.*?</figure>', page, re.S)
    assert found is not None
    return found.group(0)


def tips(svg: str, series: str) -> list[str]:
    """The tooltips of a series' points, oldest first."""
    return re.findall(rf'<circle [^>]*data-series="{series}"><title>([^<]*)</title>', svg)


def test_the_review_chart_draws_each_windows_referral_and_override_rates_and_each_cohorts_overrides():
    reviews = [(0.04, 20, 0.05), (0.06, 30, 0.2), (0.05, 25, 0.4)]  # referral rate, reviewed, override rate
    drift = [
        drift_summary(d, referral_rate=r, referred_rows=round(900 * r), reviewed_rows=n, override_rate=o)
        for d, (r, n, o) in enumerate(reviews)
    ]
    reviewed = {
        "rows": 700,
        "reviewed_rows": 40,
        "overridden_rows": 10,
        "approved_against_model": 8,
        "refused_against_model": 2,
    }
    quality = quality_summary(2, reviewed=reviewed)
    entries = newest_first(entry_from_summary(s) for s in [*drift, quality])
    page = render_index(entries, {}, generated_at="2026-10-05T00:00:00Z").decode()
    svg = review_chart(page)
    referred = tips(svg, "referral_rate")
    assert [t.split(" · ")[0] for t in referred] == [f"referred, 7 d window {r:.3f}" for r, _, _ in reviews]
    overridden = tips(svg, "override_rate")
    assert [t.split(" · ")[0] for t in overridden] == [
        f"overridden (drift window), 7 d window {o:.3f}" for *_, o in reviews
    ]
    (cohort,) = tips(svg, "override_quality")
    assert cohort.startswith("overridden (quality cohort), 7 d window 0.250")
    # Drawn on the 0-100% scale, the higher rate higher up.
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"[^>]*data-series="override_rate"', svg)]
    assert ys[0] > ys[1] > ys[2]
    assert re.findall(r'class="ytick">([^<]+)<', svg)[0] == "0%"
    # Each row says it in words too.
    rows = dict(re.findall(r'<tr data-report-id="([^"]+)".*?>(.*?)</tr>', page, re.S))
    assert "referred 6.0% · overridden 20% of 30 reviewed" in rows[drift[1]["report_id"]]
    assert "overridden 25% of 40 reviewed" in rows[quality["report_id"]]


def test_runs_that_counted_no_referrals_leave_the_review_chart_empty_and_say_why():
    unreviewed = {"referred_rows": None, "referral_rate": None, "reviewed_rows": None, "override_rate": None}
    entries = newest_first(entry_from_summary(drift_summary(d, **unreviewed)) for d in range(3))
    page = render_index(entries, {}, generated_at="2026-10-05T00:00:00Z").decode()
    assert f'<figure class="chart empty" data-chart="{TITLE}">' in page
    assert "no review figures yet: the referral rules are off" in page
