"""What the demo, `drift` and `report show` print about a drift run's monitors: one renderer."""

from rich.console import Console

from creditwatch.cli.render.common import render_drift

SUMMARY = {
    "message": "dataset drift: 8 of 19 features drifted (share 0.42 >= 0.3)",
    "rows_used": 400,
    "features": [],
    "attribution": {
        "ndcg": 0.874,
        "threshold": 0.9,
        "drifted": True,
        "first_reasons": [
            {"feature": "status_of_existing_checking_account", "share_current": 0.41, "share_reference": 0.38},
            {"feature": "credit_amount", "share_current": 0.22, "share_reference": 0.09},
            {"feature": "duration_in_month", "share_current": 0.15, "share_reference": 0.12},
            {"feature": "purpose", "share_current": 0.05, "share_reference": 0.07},
        ],
    },
    "fairness": {
        "threshold": 0.8,
        "attributes": [
            {
                "attribute": "sex",
                "alert": True,
                "below_threshold": True,
                "current": {
                    "judged": True,
                    "disparate_impact_ratio": 0.41,
                    "ratio_interval": [0.22, 0.63],
                    "lowest_group": "female",
                    "highest_group": "male",
                },
            },
            {"attribute": "foreign_worker", "current": {"judged": False, "note": "a group under 30"}},
        ],
    },
    "stability": {"score": {"psi": 0.31, "band": "significant"}},
    "estimated_quality": {
        "auc": {"value": 0.69, "low": 0.64, "high": 0.74},
        "holds": False,
        "validation_auc": 0.782,
    },
}


def test_a_drift_run_shows_its_refusal_reasons_fairness_score_stability_and_estimated_quality():
    summary = SUMMARY
    console = Console(record=True, width=200)
    render_drift(console, "drift over the shifted window", summary)
    text = console.export_text()
    assert "what drives the decisions: attribution drift: NDCG 0.874 below 0.9 (paged)" in text
    assert (
        "most frequent first reasons of refusals: status_of_existing_checking_account 41.0% (training 38.0%), "
        "credit_amount 22.0% (training 9.0%), duration_in_month 15.0% (training 12.0%)"
    ) in text
    assert "fairness by sex: disparate impact 0.41 (95% 0.22-0.63), female vs male: below 0.8 (paged)" in text
    assert "fairness by foreign_worker: not judged (a group under 30)" in text
    assert "score stability: score shift significant (PSI 0.310)" in text
    assert (
        "estimated quality (no outcomes yet, assumes no concept drift): AUC 0.690 (95% 0.640-0.740) "
        "vs validation 0.782: estimated quality does not hold"
    ) in text


def test_the_drift_command_prints_the_monitors_in_the_demos_words(capsys):
    from creditwatch.cli import render

    render.drift_summary({**SUMMARY, "window_start": "2026-11-22T00:00:00Z", "window_end": "2026-11-23T00:00:00Z"})
    out = " ".join(capsys.readouterr().out.split())
    assert "fairness by sex: disparate impact 0.41 (95% 0.22-0.63), female vs male: below 0.8 (paged)" in out
    assert "2026-11-22T00:00:00Z .. 2026-11-23T00:00:00Z" in out and "score shift significant (PSI 0.310)" in out
