"""Our report sections: from autoescaped templates, leading Evidently's page, their verdict in words first."""

import re

import pytest
from history_samples import drift_summary, quality_summary

from creditwatch_analytics.report_page import add_to_report, drift_sections, drifted_by_effect, quality_sections
from creditwatch_analytics.summaries import DriftSummary, QualitySummary
from creditwatch_common import words

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
EVIDENTLY = (
    b'<!doctype html><html><head><title>E</title></head><body class="x"><div id="root">detail</div></body></html>'
)


def test_sections_go_right_after_the_opening_body_tag_ahead_of_evidentlys_detail():
    page = add_to_report(EVIDENTLY, "<section>ours</section>")
    assert page == EVIDENTLY.replace(b'<body class="x">', b'<body class="x"><section>ours</section>')


def test_a_page_without_a_body_tag_gets_the_sections_after_its_head_or_else_first():
    assert add_to_report(b"<html><head></head><p>e</p></html>", "<s>") == b"<html><head></head><s><p>e</p></html>"
    assert add_to_report(b"<p>e</p>", "<s>") == b"<s><p>e</p>"


def test_the_body_tag_is_found_whatever_its_case_and_only_the_first_one_counts():
    assert add_to_report(b"<BODY><p>e</p><body>", "<s>") == b"<BODY><s><p>e</p><body>"


def drift(**extra) -> DriftSummary:
    return DriftSummary.model_validate(drift_summary(25, drift=0.5, **extra))


def test_the_drift_report_leads_with_its_verdict_what_it_rests_on_and_where_to_read_next():
    summary = drift()
    page = add_to_report(EVIDENTLY, drift_sections(summary, {"auc": {"value": 0.78}}, [("auc", "ROC AUC", "{:.3f}")]))
    text = page.decode()
    verdict = text.index("dataset drift: 2 of 19 features (paged)")
    assert verdict < text.index('id="creditwatch-drifted"') < text.index('id="creditwatch-fairness"')
    assert text.index('id="creditwatch-estimated-quality"') < text.index('<div id="root">')
    assert "age: disparate impact 0.60 (95% 0.52-0.68), under 25 vs 25 and over: below 0.8 (paged)" in text
    assert "<code>docs/operate.md#reading-a-drift-report</code>" in text


def test_the_drifted_features_are_listed_by_effect_largest_first():
    summary = drift()
    summary.stability.features[0].psi, summary.stability.features[1].psi = 0.12, 0.41
    assert [f.name for f, _ in drifted_by_effect(summary)] == ["duration_in_month", "credit_amount"]
    table = re.search(r'id="creditwatch-drifted".*?</table>', drift_sections(summary, {}), re.S).group(0)
    assert table.index("duration_in_month") < table.index("credit_amount")


def test_a_feature_name_or_group_label_with_markup_renders_escaped_in_every_drift_section():
    raw = drift_summary(25, drift=0.5)
    raw["features"][0]["name"] = HOSTILE
    raw["stability"]["features"][0]["name"] = HOSTILE
    raw["fairness"]["attributes"][0]["current"]["groups"][0]["group"] = HOSTILE
    raw["fairness"]["attributes"][0]["current"]["lowest_group"] = HOSTILE
    raw["attribution"]["features"] = [
        {"name": HOSTILE, "mean_abs_current": 0.1, "mean_abs_reference": 0.1, "rank_current": 1, "rank_reference": 1}
    ]
    html = drift_sections(DriftSummary.model_validate(raw), {})
    assert "<script" not in html and html.count(ESCAPED) >= 5


def quality(**extra) -> QualitySummary:
    return QualitySummary.model_validate(quality_summary(21, **extra))


def test_the_quality_report_leads_with_its_verdict_and_its_realized_estimated_and_validation_figures():
    text = add_to_report(EVIDENTLY, quality_sections(quality(), {"auc": "ROC AUC"})).decode()
    body = text[text.index('<body class="x">') :]
    assert body.index("Quality degraded (paged)") < body.index('id="creditwatch-quality-figures"')
    assert body.index('id="creditwatch-quality-figures"') < body.index('<div id="root">')
    figures = re.search(r'id="creditwatch-quality-figures".*?</table>', body, re.S).group(0)
    # Realized beside its population's validation, then the estimate beside the whole holdout's.
    realized, validation, estimated = (
        "0.676 <small>(0.626 - 0.716)</small>",
        "0.780 <small>(0.740 - 0.820)</small>",
        "0.711",
    )
    assert f"<td>ROC AUC</td><td><b>{realized}</b></td><td>{validation}</td><td>{estimated}" in figures
    assert "sex: equal opportunity 0.90 (95% 0.80-0.99), female vs male (reported; not paged)" in body
    assert "<code>docs/operate.md#when-the-quality-alert-fires</code>" in body


def test_a_group_label_with_markup_renders_escaped_in_the_quality_sections():
    raw = quality_summary(21)
    raw["fairness"]["sex"]["lowest_group"] = HOSTILE
    raw["reasons"] = [HOSTILE]
    html = quality_sections(QualitySummary.model_validate(raw), {"auc": "ROC AUC"})
    assert "<script" not in html and html.count(ESCAPED) >= 3


@pytest.mark.parametrize(
    ("alert", "as_in_training", "ratio", "high", "expected"),
    [
        (True, False, 0.61, 0.7, "below 0.8 (paged)"),
        (False, True, 0.61, 0.7, "below 0.8 (as in training; not paged)"),
        (False, False, 0.75, 0.9, "below 0.8 within noise (not paged)"),
        (False, False, 0.92, 0.99, "at or above 0.8"),
    ],
)
def test_a_fairness_judgement_says_what_was_judged_and_whether_it_pages(alert, as_in_training, ratio, high, expected):
    line = words.fairness_verdict(
        attribute="sex",
        ratio=ratio,
        low=0.42,
        high=high,
        lowest_group="female",
        highest_group="male",
        threshold=0.8,
        judged=True,
        alert=alert,
        as_in_training=as_in_training,
    )
    assert line == f"sex: disparate impact {ratio:.2f} (95% 0.42-{high:.2f}), female vs male: {expected}"


def test_the_drift_words_name_the_count_and_whether_it_pages():
    assert words.drift_verdict(7, 19, True) == "dataset drift: 7 of 19 features (paged)"
    assert words.drift_verdict(2, 19, False) == "no dataset drift: 2 of 19 features drifted"


def test_every_next_step_link_names_a_heading_of_operate_md():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operate.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", doc, re.M)
    }
    for link in words.NEXT_STEPS.values():
        path, anchor = link.split("#")
        assert path == "docs/operate.md" and anchor in anchors, link
