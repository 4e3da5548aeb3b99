"""Decision fairness: figures against fairlearn, the minimum-group rule, the alert rule, the bias scenario on moto."""

import functools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_difference, demographic_parity_ratio, selection_rate
from lambda_context import LambdaContext

from creditwatch.simulate import FEMALE, PRESETS, BiasShift, application_pool, generate, plan_counts
from creditwatch_alerts.service import AlertsEvent, AlertsJob
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_alerts.state import StateStore
from creditwatch_analytics.groups import age_band_labels, age_bands, protected_groups
from creditwatch_common.aws import AwsClients
from creditwatch_common.ids import uuid7
from creditwatch_common.notifications import FairnessAlert, parse_notification
from creditwatch_common.records import LogRecord
from creditwatch_common.reports import Publisher
from creditwatch_drift.fairness import fairness, parity
from creditwatch_drift.models import DriftEvent
from creditwatch_drift.service import DriftJob, load_reference
from creditwatch_drift.settings import DriftSettings
from creditwatch_drift.stability import load_stability_bins


def fixed_population(seed: int = 7, n: int = 400) -> pd.DataFrame:
    """Applications with a known approval gap: female 20%, male 50%; ages 19-70; 10% not foreign workers."""
    rng = np.random.default_rng(seed)
    sex_code = rng.choice(["A91", "A92", "A93", "A94", "A95"], size=n)
    female = np.isin(sex_code, list(FEMALE))
    approved = rng.random(n) < np.where(female, 0.2, 0.5)
    return pd.DataFrame(
        {
            "personal_status_and_sex": sex_code,
            "age_in_years": rng.integers(19, 71, size=n),
            "foreign_worker": np.where(rng.random(n) < 0.9, "A201", "A202"),
            "probability_good_credit": np.where(approved, 0.9, 0.4),
            "decision": np.where(approved, "approve", "refuse"),
        }
    )


def test_each_group_rate_and_the_parity_figures_equal_fairlearns_on_fixed_data():
    frame = fixed_population()
    approved = (frame["decision"] == "approve").to_numpy()
    for name, groups in protected_groups(frame, (25,)).items():
        ours = parity(approved, frame["probability_good_credit"].to_numpy(), groups, 1, 500, 0)
        g = groups.astype(str).to_numpy()
        theirs = MetricFrame(metrics=selection_rate, y_true=approved, y_pred=approved, sensitive_features=g)
        assert {r.group: r.approval_rate for r in ours.groups} == pytest.approx(theirs.by_group.to_dict(), abs=1e-6)
        assert {r.group: r.count for r in ours.groups} == pd.Series(g).value_counts().to_dict()
        ratio = demographic_parity_ratio(approved, approved, sensitive_features=g)
        difference = demographic_parity_difference(approved, approved, sensitive_features=g)
        assert ours.disparate_impact_ratio == pytest.approx(ratio, abs=1e-6), name
        assert ours.statistical_parity_difference == pytest.approx(difference, abs=1e-6), name
        low, high = ours.ratio_interval
        assert low <= ours.disparate_impact_ratio <= high


def test_sex_comes_from_personal_status_and_age_bands_follow_the_cut_points():
    frame = pd.DataFrame(
        {
            "personal_status_and_sex": ["A91", "A92", "A93", "A94", "A95", "A99"],
            "age_in_years": [18, 24, 25, 59, 60, None],
            "foreign_worker": ["A201", "A202", "A201", "A201", "A201", None],
        }
    )
    groups = protected_groups(frame, (25, 60))
    assert list(groups["sex"].iloc[:5]) == ["male", "female", "male", "male", "female"]
    assert pd.isna(groups["sex"].iloc[5])  # an unknown code has no group: left out, not guessed
    assert age_band_labels([25]) == ["under 25", "25 and over"]
    assert list(age_bands(frame["age_in_years"], (25, 60)))[:5] == [
        "under 25",
        "under 25",
        "25-59",
        "25-59",
        "60 and over",
    ]
    assert groups["foreign_worker"].iloc[1] == "not a foreign worker"


def test_a_group_below_the_minimum_size_is_shown_but_not_judged():
    frame = fixed_population(n=400)
    approved = (frame["decision"] == "approve").to_numpy()
    groups = protected_groups(frame, (25,))["foreign_worker"]
    small = int((groups == "not a foreign worker").sum())
    assert 10 < small < 60
    judged = parity(approved, frame["probability_good_credit"].to_numpy(), groups, small, 500, 0)
    assert judged.judged and judged.disparate_impact_ratio is not None
    not_judged = parity(approved, frame["probability_good_credit"].to_numpy(), groups, small + 1, 500, 0)
    assert not not_judged.judged and not_judged.disparate_impact_ratio is None and not_judged.ratio_interval is None
    assert "not judged" in not_judged.note
    assert [g.judged for g in not_judged.groups if g.group == "not a foreign worker"] == [False]
    assert len(not_judged.groups) == 2  # still shown


def test_the_interval_is_seeded_and_does_not_collapse_when_a_group_has_no_approvals():
    approved = np.array([False] * 40 + [True] + [False] * 39)
    groups = pd.Series(["a"] * 40 + ["b"] * 40)
    prob = np.full(80, 0.5)
    first = parity(approved, prob, groups, 30, 2000, 0)
    assert first == parity(approved, prob, groups, 30, 2000, 0)
    # 0 of 40 against 1 of 40: the ratio is 0, but the evidence is one approval; the interval says so.
    assert first.disparate_impact_ratio == 0.0 and first.ratio_interval[1] > 0.8


def test_adverse_impact_pages_only_beyond_the_interval_and_beyond_what_the_reference_already_had():
    window = fixed_population(seed=1, n=600)
    fair = fixed_population(seed=2, n=600)
    fair["decision"] = np.where(np.random.default_rng(3).random(600) < 0.4, "approve", "refuse")
    result = fairness(window, fair, threshold=0.8, age_cuts=(25,), min_group_size=30, resamples=2000)
    sex = result.attribute("sex")
    assert sex.below_threshold and sex.alert and sex.current.ratio_interval[1] < 0.8
    assert [a.attribute for a in result.alerts()] == ["sex"]
    # The same gap in the reference is the model's known finding: reported, not paged...
    known = fairness(window, window, threshold=0.8, age_cuts=(25,), min_group_size=30, resamples=2000)
    assert known.attribute("sex").below_threshold and not known.attribute("sex").alert
    # ...and the window of the same population does not page on noise.
    noise = fairness(fair, fair, threshold=0.8, age_cuts=(25,), min_group_size=30, resamples=2000)
    assert noise.alerts() == []


def scored_frame(model, reference, scenario, n, seed):
    pool = application_pool(model, reference)
    apps = [json.loads(r.body) for r in generate(model, pool, {scenario: n}, seed)]
    scores = model.score([{k: a[k] for k in model.schema.names} for a in apps])
    frame = pd.DataFrame(apps)
    frame["probability_good_credit"] = [s.probability_good_credit for s in scores]
    frame["decision"] = [s.decision for s in scores]
    return frame


def test_a_large_stable_window_shows_the_models_own_sex_gap_as_adverse_impact_without_paging(model):
    reference = load_reference(model)
    # 10,000 applications drawn from the reference: the window's interval is narrow, the reference's wide.
    window = scored_frame(model, reference, "stable", 10_000, 1)
    result = fairness(window, reference, threshold=0.8, age_cuts=(25,), min_group_size=30, resamples=2000)
    sex = result.attribute("sex")
    assert sex.reference.disparate_impact_ratio == pytest.approx(0.737722, abs=1e-6)
    assert sex.below_threshold and sex.current.ratio_interval[1] < 0.8  # the model's real gap, now provable
    assert not sex.worse_than_reference and sex.change_interval[0] < 1 < sex.change_interval[1]
    assert result.alerts() == []
    biased = fairness(
        scored_frame(model, reference, "bias", 10_000, 1),
        reference,
        threshold=0.8,
        age_cuts=(25,),
        min_group_size=30,
        resamples=2000,
    )
    assert biased.attribute("sex").worse_than_reference and biased.attribute("sex").alert


# ---------------------------------------------------------------- the bias scenario, through DriftJob on moto


def scenario_records(model, reference, scenario, n, seed):
    pool = application_pool(model, reference)
    apps = [json.loads(r.body) for r in generate(model, pool, {scenario: n}, seed)]
    scores = model.score([{k: a[k] for k in model.schema.names} for a in apps])
    return [
        LogRecord(
            request_id=uuid7(),
            route="/predict",
            status=200,
            latency_ms=1.0,
            model_version=model.version,
            features=app,
            probability_good_credit=s.probability_good_credit,
            decision=s.decision,
        )
        for app, s in zip(apps, scores, strict=True)
    ]


@pytest.fixture
def drift_job(aws, model, prediction_log, sqs):
    queue = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    return DriftJob(
        settings=DriftSettings().model_copy(update={"notifications_queue_url": queue}),
        model=model,
        reference=load_reference(model),
        reader=prediction_log,
        publisher=Publisher(s3=AwsClients().s3, bucket=aws.ref("ReportsBucket")),
        sqs=sqs,
        stability_bins=load_stability_bins(),
    )


def queued(sqs, aws):
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [parse_notification(m["Body"]) for m in msgs]


def test_the_bias_preset_sends_only_bias_traffic_that_changes_female_applicants_only(model):
    assert plan_counts("bias", {}) == PRESETS["bias"]
    app = {"personal_status_and_sex": "A93", "credit_amount": 1000.0, "duration_in_month": 12}
    assert BiasShift().apply(app, model) == app
    moved = BiasShift().apply({**app, "personal_status_and_sex": "A92"}, model)
    assert moved["credit_amount"] == 3000.0 and moved["status_of_existing_checking_account"] == "A11"


def test_the_stable_scenario_raises_no_fairness_alert(drift_job, prediction_log, model, sqs, aws, s3):
    prediction_log.write(scenario_records(model, drift_job.reference, "stable", 300, 1))
    summary = drift_job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.fairness is not None
    assert summary.fairness.alerts() == []
    assert [n for n in queued(sqs, aws) if isinstance(n, FairnessAlert)] == []
    sex = summary.fairness.attribute("sex")
    assert sex.current.judged and sex.reference.judged
    stored = json.loads(s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.summary_key)["Body"].read())
    assert stored["fairness"]["attributes"][0]["attribute"] == "sex" and stored["stability"]["score"]["band"]
    html = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.report_html_key)["Body"].read()
    assert b'id="creditwatch-fairness"' in html and b'id="creditwatch-stability"' in html


def test_the_bias_scenario_fires_one_fairness_alert_per_attribute_that_slack_gets_once(
    drift_job, prediction_log, model, sqs, aws, ddb
):
    prediction_log.write(scenario_records(model, drift_job.reference, "bias", 300, 1))
    # One fixed window for both runs (a window ending "now" would move between them on a slow host).
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = DriftEvent(start=end - timedelta(days=1), end=end)
    summary = drift_job.run(window)
    sex = summary.fairness.attribute("sex")
    assert sex.alert and sex.current.lowest_group == "female" and sex.current.ratio_interval[1] < 0.8
    assert summary.notified and "fairness" in summary.message
    drift_job.run(window)  # a rerun of the same window: the same keys, posted once
    notes = [n for n in queued(sqs, aws) if isinstance(n, FairnessAlert)]
    assert {n.attribute for n in notes} == {a.attribute for a in summary.fairness.alerts()} >= {"sex"}

    posted = []

    class Slack:
        def post(self, payload):
            posted.append(payload)

    queue = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    alerts = AlertsJob(
        settings=AlertsSettings().model_copy(update={"notifications_queue_url": queue, "expect_traffic": False}),
        reader=prediction_log,
        state=StateStore(dynamodb=ddb, table=aws.ref("AlertStateTable"), environment="test"),
        slack=Slack,
        sqs=sqs,
    )
    alerts.run(AlertsEvent())
    alerts.run(AlertsEvent())
    fairness_posts = [p for p in posted if "FAIRNESS" in p["text"]]
    assert len(fairness_posts) == len(summary.fairness.alerts())
    sex_post = next(p for p in fairness_posts if ": sex " in p["text"])
    assert "female" in sex_post["text"] and sex_post["blocks"][0]["type"] == "header"


def test_the_handler_emits_the_ratio_per_attribute_the_score_psi_and_the_alert_count(
    aws, model, prediction_log, sqs, capsys
):
    from creditwatch_drift.app import build

    records = scenario_records(model, load_reference(model), "bias", 300, 1)
    prediction_log.write(records)
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    service = build(DriftSettings().model_copy(update={"notifications_queue_url": url}), AwsClients(), model=model)

    Ctx = functools.partial(LambdaContext, "DriftFunction", memory_limit_in_mb=3008, request_id="r")

    result = service.handler({"days": 1}, Ctx())
    emf = {
        k: v
        for x in capsys.readouterr().out.splitlines()
        if x.startswith("{") and "_aws" in x
        for k, v in json.loads(x).items()
    }
    sex = next(a for a in result["fairness"]["attributes"] if a["attribute"] == "sex")
    assert emf["DisparateImpactRatioSex"] in (
        sex["current"]["disparate_impact_ratio"],
        [sex["current"]["disparate_impact_ratio"]],
    )
    assert "DisparateImpactRatioAge" in emf and "DisparateImpactRatioForeignWorker" not in emf  # not judged: no point
    assert emf["FairnessAlerts"] in ([1.0], 1.0, [2.0], 2.0) and "ScorePsi" in emf and "MaxFeaturePsi" in emf
    assert result["stability"]["score"]["psi"] > 0.1
