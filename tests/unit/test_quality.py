"""The quality job: figures against scikit-learn, outcome fairness against fairlearn, the verdict rules,
events, and whole runs on moto (report objects, latest pointer, one QualityAlert, deduplicated in Slack)."""

import json
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from aws_lambda_powertools.utilities import parameters
from labelled import review_decisions
from labelled import seed_cohort as seed_labelled
from sklearn.metrics import brier_score_loss, confusion_matrix, log_loss, roc_auc_score

from creditwatch_analytics.lake.window import DynamoWindow
from creditwatch_common.aws import AwsClients
from creditwatch_common.notifications import QualityAlert, parse_notification
from creditwatch_common.reports import Publisher, TokenLinks, report_html_key, token_key_from_secret
from creditwatch_quality import fairness as qf
from creditwatch_quality.app import QualityService
from creditwatch_quality.baseline import Baselines
from creditwatch_quality.cohort import Cohort
from creditwatch_quality.figures import Labelled, calibration_table, confusion, realized
from creditwatch_quality.models import Figure, QualityEvent
from creditwatch_quality.reference import validation_figures
from creditwatch_quality.rules import judge
from creditwatch_quality.service import QualityJob
from creditwatch_quality.settings import QualitySettings

START, END = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
API = "https://api.example.test/"


# ---------------------------------------------------------------- figures and rules


def test_the_realized_figures_match_scikit_learn_on_the_same_rows():
    rng = np.random.default_rng(3)
    p = np.round(rng.uniform(size=3000), 2)  # ties, as a forest's scores have
    y = (rng.uniform(size=3000) < p).astype(int)
    approved = p >= 0.795
    data = Labelled(y=y, p=p, approved=approved)
    figures = realized(data, resamples=200, seed=0)
    assert figures["auc"].value == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert figures["gini"].value == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-6)
    assert figures["brier"].value == pytest.approx(brier_score_loss(y, p), abs=1e-6)
    assert figures["log_loss"].value == pytest.approx(log_loss(y, p), abs=1e-6)
    tn, fp, fn, tp = confusion_matrix(y, approved.astype(int)).ravel()
    assert confusion(data, 0.795).model_dump() == {"threshold": 0.795, "tp": tp, "fp": fp, "tn": tn, "fn": fn}
    assert figures["expected_cost"].value == pytest.approx((5 * fp + fn) / len(y), abs=1e-6)
    assert figures["approval_rate"].value == pytest.approx(approved.mean(), abs=1e-6)
    assert figures["bad_rate_approved"].value == pytest.approx(fp / (tp + fp), abs=1e-6)
    # ECE sums absolute gaps: its resamples sit above a well-calibrated point, so it is left out here.
    for name, f in figures.items():
        if name == "ece":
            continue
        assert f.low is not None and f.high is not None and f.low <= f.value <= f.high
    bands = calibration_table(data)
    assert sum(b.rows for b in bands) == len(y) and [b.band for b in bands][:2] == ["0.0-0.1", "0.1-0.2"]


def figure(value, low=None, high=None):
    return Figure(value=value, low=low, high=high)


VALIDATION = {"auc": figure(0.78, 0.72, 0.84), "expected_cost": figure(0.60, 0.50, 0.69)}
RULES = {"min_labelled_rows": 200, "auc_drop": 0.05, "cost_rise": 0.15}


@pytest.mark.parametrize(
    ("rows", "labelled", "realized_figures", "verdict"),
    [
        (0, 0, {}, "no_data"),
        (1000, 199, {}, "insufficient_labels"),
        # AUC 0.70 is past the drop, but its interval reaches validation: noise, not a page.
        (1000, 300, {"auc": figure(0.70, 0.60, 0.79), "expected_cost": figure(0.6, 0.5, 0.7)}, "ok"),
        # Its interval clears validation's value but not validation's own interval: the gap is within both noises.
        (1000, 300, {"auc": figure(0.70, 0.64, 0.77), "expected_cost": figure(0.6, 0.5, 0.7)}, "ok"),
        (1000, 300, {"auc": figure(0.68, 0.64, 0.72), "expected_cost": figure(0.6, 0.5, 0.7)}, "degraded"),
        # Exactly validation - drop is not below it.
        (1000, 300, {"auc": figure(0.73, 0.70, 0.77), "expected_cost": figure(0.6, 0.5, 0.7)}, "ok"),
        (1000, 300, {"auc": figure(0.78, 0.75, 0.8), "expected_cost": figure(0.80, 0.70, 0.9)}, "degraded"),
        (1000, 300, {"auc": figure(0.78, 0.75, 0.8), "expected_cost": figure(0.80, 0.58, 0.9)}, "ok"),
    ],
)
def test_the_verdict_needs_labels_and_a_fall_beyond_threshold_and_noise(rows, labelled, realized_figures, verdict):
    got, reasons = judge(rows, labelled, realized_figures, VALIDATION, **RULES)
    assert got == verdict
    assert bool(reasons) == (verdict in ("degraded", "insufficient_labels"))
    if verdict == "degraded":
        assert any("validation" in r for r in reasons)


def _cohort(approved_labelled: int, refused_labelled: int) -> Cohort:
    """100 approved and 300 refused predictions, the first of each with an outcome (alternately good and bad)."""
    approved = np.r_[np.ones(100, bool), np.zeros(300, bool)]
    outcome = np.full(400, -1)
    outcome[:approved_labelled] = np.arange(approved_labelled) % 2
    outcome[100 : 100 + refused_labelled] = np.arange(refused_labelled) % 2
    p = np.where(approved, 0.9, 0.5)
    return Cohort(400, p, approved, outcome, pd.DataFrame(index=range(400)), {})


@pytest.mark.parametrize(
    ("approved_labelled", "refused_labelled", "name", "figures_rows", "left_out"),
    [
        (80, 0, "booked_loans", 80, 0),  # a lender's own outcomes: booked loans only
        (80, 30, "booked_loans", 80, 30),  # 10% of the refused (a bureau sample) against 80% of booked: left out
        (80, 120, "all_scored", 200, 0),  # 40% of the refused, at least half the booked coverage: everyone
    ],
)
def test_the_realized_population_is_booked_loans_unless_refused_applicants_are_covered_alike(
    approved_labelled, refused_labelled, name, figures_rows, left_out
):
    cohort = _cohort(approved_labelled, refused_labelled)
    population = cohort.realized_population()
    assert (population.name, population.labelled_rows, population.left_out) == (name, figures_rows, left_out)
    data = cohort.labelled(population)
    assert len(data.y) == figures_rows and (name == "all_scored" or data.approved.all())


def test_a_validation_figure_without_an_interval_counts_as_exact():
    realized_figures = {"auc": figure(0.70, 0.64, 0.77)}
    assert judge(1000, 300, realized_figures, {"auc": figure(0.78)}, **RULES)[0] == "degraded"


def test_booked_loans_ranking_below_all_applicants_do_not_page_against_a_validation_on_few_approved_rows():
    # Booked loans' AUC is lower than all applicants' (a narrower range of scores): judged against validation on
    # the approved holdout rows (73 rows, 7 bad: a wide interval), an as-validated cohort's 0.56 is noise...
    booked_validation = {"auc": figure(0.751, 0.58, 0.919), "expected_cost": figure(0.479, 0.176, 0.865)}
    as_validated = {"auc": figure(0.557, 0.415, 0.696), "expected_cost": figure(0.31, 0.17, 0.47)}
    assert judge(1500, 307, as_validated, booked_validation, **RULES, cost_per="booked loan") == ("ok", [])
    # ...while four times validation's bad rate among them is not, and the reason names the unit.
    concept = {"auc": figure(0.61, 0.56, 0.66), "expected_cost": figure(1.25, 1.06, 1.44)}
    verdict, reasons = judge(3000, 533, concept, booked_validation, **RULES, cost_per="booked loan")
    assert verdict == "degraded"
    assert reasons == ["expected cost per booked loan 1.250 (95% 1.060-1.440) > validation 0.479 + 0.15"]


def test_validation_figures_come_from_the_metadata_with_their_intervals(model):
    figures = validation_figures(model.metadata)
    assert figures["auc"].value == pytest.approx(model.metadata["metrics"]["holdout"]["roc_auc"])
    assert figures["auc"].low < figures["auc"].value < figures["auc"].high
    old = {"metrics": {"holdout": model.metadata["metrics"]["holdout"]}}
    points = validation_figures(old)
    assert points["expected_cost"].value == pytest.approx(0.596667, abs=1e-6) and points["auc"].low is None
    # Booked loans: older metadata gives the approved holdout rows' bad rate (7 of 73) and cost per booked loan.
    booked = validation_figures(old, "booked_loans")
    assert booked["bad_rate_approved"].value == pytest.approx(7 / 73, abs=1e-6)
    assert booked["expected_cost"].value == pytest.approx(5 * 7 / 73, abs=1e-6) and "auc" not in booked


def test_validation_for_booked_loans_is_the_holdout_rows_the_model_approves(model):
    from sklearn.model_selection import train_test_split

    from creditwatch_analytics.training import load_data
    from creditwatch_analytics.training.data import RANDOM_STATE, TARGET

    data = load_data()
    x, y = data[model.schema.names], data[TARGET].to_numpy()
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=RANDOM_STATE)
    p = model.predict_good(x_test.to_dict("records"))
    booked = p >= model.threshold
    figures = validation_figures(model.metadata, "booked_loans")
    method = model.metadata["metrics"]["validation_approved_method"]
    assert (method["rows"], method["bad_rows"]) == (booked.sum(), (y_test[booked] == 0).sum())
    assert figures["auc"].value == pytest.approx(roc_auc_score(y_test[booked], p[booked]), abs=1e-6)
    assert figures["bad_rate_approved"].value == pytest.approx((y_test[booked] == 0).mean(), abs=1e-6)
    assert figures["expected_cost"].value == pytest.approx(5 * (y_test[booked] == 0).mean(), abs=1e-6)
    # A narrower range of scores: booked loans rank less well than every holdout row, on wider intervals.
    scored = validation_figures(model.metadata)
    assert figures["auc"].value < scored["auc"].value
    assert figures["auc"].high - figures["auc"].low > 2 * (scored["auc"].high - scored["auc"].low)
    assert "approval_rate" not in figures


# ---------------------------------------------------------------- outcome fairness


def test_outcome_fairness_matches_fairlearn_metric_frame_and_judges_only_large_groups():
    from fairlearn.metrics import (
        MetricFrame,
        equal_opportunity_difference,
        equal_opportunity_ratio,
        false_positive_rate,
        true_positive_rate,
    )

    rng = np.random.default_rng(5)
    n = 800
    frame = pd.DataFrame(
        {
            "personal_status_and_sex": rng.choice(["A91", "A92", "A93"], size=n),
            "age_in_years": rng.integers(19, 70, size=n),
            "foreign_worker": np.where(np.arange(n) < 20, "A202", "A201"),  # 20 rows: too small to judge
        }
    )
    y = rng.integers(0, 2, size=n)
    p = rng.uniform(size=n)
    approved = (p > 0.5) & ((frame["personal_status_and_sex"] != "A92") | (rng.uniform(size=n) < 0.5))
    result = qf.outcome_fairness(frame, y, approved.to_numpy(), p, age_cuts=(25,), min_group_size=30, resamples=500)
    sex = frame["personal_status_and_sex"].map(qf.protected_groups(frame, (25,))["sex"].to_dict().get)
    sex = qf.protected_groups(frame, (25,))["sex"]
    mf = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=approved.astype(int),
        sensitive_features=sex,
    ).by_group
    for group, row in mf.iterrows():
        got = result["sex"].groups[group]
        assert got.true_positive_rate == pytest.approx(row["tpr"], abs=1e-6)
        assert got.false_approval_rate == pytest.approx(row["fpr"], abs=1e-6)
        assert got.tpr_interval[0] <= got.true_positive_rate <= got.tpr_interval[1]
        mask = (sex == group).to_numpy()
        assert got.mean_probability == pytest.approx(p[mask].mean(), abs=1e-6)
        assert got.observed_good_rate == pytest.approx(y[mask].mean(), abs=1e-6)
    sex_result = result["sex"]
    assert sex_result.judged and sex_result.lowest_group == "female"
    assert sex_result.equal_opportunity_difference == pytest.approx(
        equal_opportunity_difference(y, approved.astype(int), sensitive_features=sex), abs=1e-6
    )
    assert sex_result.equal_opportunity_ratio == pytest.approx(
        equal_opportunity_ratio(y, approved.astype(int), sensitive_features=sex), abs=1e-6
    )
    low, high = sex_result.difference_interval
    assert low < sex_result.equal_opportunity_difference < high
    assert result["foreign_worker"].judged is False and "not judged" in result["foreign_worker"].note
    assert result["foreign_worker"].groups["not a foreign worker"].judged is False


def test_jeffreys_interval_is_the_beta_posterior_quantiles_and_never_collapses():
    from scipy.stats import beta

    assert qf.jeffreys(3, 10) == pytest.approx((beta.ppf(0.025, 3.5, 7.5), beta.ppf(0.975, 3.5, 7.5)), abs=1e-6)
    low, high = qf.jeffreys(0, 40)
    assert low == 0.0 and 0 < high < 0.1


# ---------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"days_ago_from": 30, "days_ago_to": 90}, "days_ago_from must be larger"),
        ({"start": "2026-08-01T00:00:00Z"}, "both start and end"),
        ({"start": "2026-08-01T00:00:00", "end": "2026-09-01T00:00:00"}, "time zone"),
        ({"start": "2026-09-01T00:00:00Z", "end": "2026-08-01T00:00:00Z"}, "start must be before end"),
        (
            {"start": "2026-08-01T00:00:00Z", "end": "2026-09-01T00:00:00Z", "days_ago_from": 9, "days_ago_to": 1},
            "not both",
        ),
        ({"days_ago_from": "many", "days_ago_to": 1}, "valid integer"),
    ],
)
def test_invalid_events_get_a_precise_invalid_event_answer(body, needle, quality_service):
    answer = quality_service.handle(body)
    assert answer["status"] == "invalid_event" and answer["message"] == "invalid quality event"
    assert needle in json.dumps(answer["errors"])


def test_the_invalid_event_file_is_refused_and_the_others_parse(event, quality_service):
    assert quality_service.handle(event("quality-invalid.json"))["status"] == "invalid_event"
    now = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    days = QualityEvent.model_validate(event("quality-days-ago.json")).cohort(84, 28, now)
    assert days == (datetime(2026, 9, 4, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC))
    settings = QualitySettings()
    scheduled = QualityEvent.model_validate(event("quality-scheduled.json"))
    assert scheduled.cohort(settings.cohort_days_from, settings.cohort_days_to, now) == days
    window = QualityEvent.model_validate(event("quality-window.json")).cohort(84, 28, now)
    assert window == (datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))


# ---------------------------------------------------------------- runs on moto


def seed_cohort(prediction_log, ddb, aws, model, **kwargs):
    """The shared seeding helper on the moto table."""
    table, shards = aws.ref("PredictionsTable"), int(aws.parameters["LogShards"])
    return seed_labelled(prediction_log, ddb, table, shards, model, **kwargs)


@pytest.fixture
def quality_job(aws, model, prediction_log, sqs):
    settings = QualitySettings().model_copy(
        update={
            "notifications_queue_url": sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"],
            "resamples": 200,
        }
    )
    tokens = TokenLinks(
        key=token_key_from_secret(parameters.get_secret, aws.ref("ReportLinkTokenSecret"), 0), base_url=API
    )
    return QualityJob(
        settings=settings,
        baselines=Baselines(model, None, resamples=200),
        source=DynamoWindow(prediction_log),
        publisher=Publisher(s3=AwsClients().s3, bucket=aws.ref("ReportsBucket"), tokens=tokens),
        sqs=sqs,
    )


@pytest.fixture
def quality_service(quality_job):
    from creditwatch_common.observability import Observability, Service

    return QualityService(
        settings=quality_job.settings, job=quality_job, obs=Observability.build(Service.QUALITY, quality_job.settings)
    )


def queued(sqs, aws):
    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    out = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(parse_notification(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_a_run_reports_its_steps_in_order_from_reading_to_done(quality_job, prediction_log, ddb, aws, model):
    seed_cohort(prediction_log, ddb, aws, model, n=300, start=START, end=END, seed=4)
    steps: list[tuple[str, int, int]] = []
    quality_job.progress = lambda step, done, total: steps.append((step, done, total))
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert [(done, total) for _, done, total in steps] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert steps[1][0] == "figures on 300 labelled of 300 predictions"
    assert steps[-1][0] == f"done: {summary.verdict}"


def test_an_empty_cohort_is_no_data_and_writes_nothing(quality_job, s3, aws):
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "no_data" and summary.rows == 0 and summary.report_id is None
    assert s3.list_objects_v2(Bucket=aws.ref("ReportsBucket")).get("KeyCount", 0) == 0


def test_a_cohort_with_few_outcomes_is_insufficient_labels_with_the_estimate_and_coverage(
    quality_job, prediction_log, ddb, aws, model
):
    seed_cohort(prediction_log, ddb, aws, model, n=300, start=START, end=END, coverage=0.2, seed=2)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "insufficient_labels" and summary.rows == 300
    assert 30 < summary.labelled_rows < 100 and summary.label_coverage == round(summary.labelled_rows / 300, 6)
    assert summary.realized == {} and summary.estimated["auc"].value is not None
    assert "200 needed" in summary.message and summary.report_id.startswith("quality.")


def test_a_cohort_performing_as_validated_is_ok_with_every_figure_and_the_report_published(
    quality_job, prediction_log, ddb, aws, model, s3, sqs
):
    seed_cohort(prediction_log, ddb, aws, model, n=600, start=START, end=END, seed=3)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "ok", summary.reasons
    assert summary.rows == summary.labelled_rows == 600 and summary.label_coverage == 1.0
    assert set(summary.realized) >= {"auc", "gini", "ks", "brier", "log_loss", "ece", "expected_cost"}
    assert set(summary.estimated) >= {"auc", "expected_cost", "approval_rate"}
    assert "no concept drift" in summary.estimator
    c = summary.confusion
    assert c.tp + c.fp + c.tn + c.fn == 600 and c.threshold == model.threshold
    assert set(summary.fairness) == {"sex", "age", "foreign_worker"} and summary.fairness["sex"].judged
    bucket = aws.ref("ReportsBucket")
    body = json.loads(s3.get_object(Bucket=bucket, Key=summary.summary_key)["Body"].read())
    assert body["kind"] == "quality" and body["verdict"] == "ok" and body["cohort"]["start"] == "2026-08-01T00:00:00Z"
    assert body["realized"]["auc"]["value"] == summary.realized["auc"].value
    latest = json.loads(s3.get_object(Bucket=bucket, Key="quality/latest.json")["Body"].read())
    assert latest["summary_key"] == summary.summary_key and latest["verdict"] == "ok"
    html = s3.get_object(Bucket=bucket, Key=summary.report_html_key)["Body"].read().decode()
    # Our verdict and its figures lead, right after the body tag; Evidently's preset follows.
    body = html[re.search(r"<body\b[^>]*>", html).end() :]
    assert body.startswith("<style>") and body.index("Quality holds") < body.index("</section>") < body.index("<script")
    assert "Outcome fairness by protected group" in html
    # Evidently's classification preset is the report's body (its scripts make it megabytes).
    assert not [w for w in summary.warnings if "Evidently" in w] and len(html) > 1_000_000
    assert summary.evidently_version
    # The token link names the quality id, and the reports route maps it to this report's HTML.
    assert summary.report_url.startswith(f"{API}reports/{summary.report_id}?t=")
    assert report_html_key("drift", summary.report_id, {"quality": "quality"}) == summary.report_html_key
    assert queued(sqs, aws) == []


def test_a_cohort_over_max_rows_is_judged_on_a_uniform_sample_and_the_report_states_sample_and_population(
    quality_job, prediction_log, ddb, aws, model, s3
):
    seed_cohort(prediction_log, ddb, aws, model, n=600, start=START, end=END, coverage=0.8, seed=4)
    whole = quality_job.run(QualityEvent(start=START, end=END))
    # Below QUALITY_MAX_ROWS's floor (10,000): a copy skips the settings' validation.
    quality_job.settings = quality_job.settings.model_copy(update={"max_rows": 400})
    summary = quality_job.run(QualityEvent(start=START, end=END))
    # The totals are the whole cohort's, as an unsampled run counts them; the figures' rows are the sample's.
    assert (summary.rows, summary.labelled_rows, summary.bad_rows, summary.label_coverage) == (
        whole.rows,
        whole.labelled_rows,
        whole.bad_rows,
        whole.label_coverage,
    )
    assert whole.rows_sampled is None and whole.labelled_rows_sampled is None
    assert summary.rows == 600 and summary.rows_sampled == 400
    assert 0 < summary.labelled_rows_sampled < summary.labelled_rows
    c = summary.confusion
    assert c.tp + c.fp + c.tn + c.fn == summary.labelled_rows_sampled
    assert f"uniform sample of {summary.labelled_rows_sampled} of {summary.labelled_rows} labelled row" in (
        summary.message
    )
    html = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.report_html_key)["Body"].read().decode()
    assert (
        f"Figures on a uniform sample of {summary.labelled_rows_sampled} of {summary.labelled_rows} labelled rows"
        in html
    )
    assert (
        "creditwatch-quality-sample"
        not in s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=whole.report_html_key)["Body"].read().decode()
    )


def test_a_concept_drift_cohort_is_degraded_and_queues_one_quality_alert_deduplicated_in_slack(
    quality_job, prediction_log, ddb, aws, model, sqs
):
    from faults import SlackWebhook

    from creditwatch_alerts.models import AlertsEvent
    from creditwatch_alerts.service import AlertsJob
    from creditwatch_alerts.settings import AlertsSettings
    from creditwatch_alerts.slack import SlackClient
    from creditwatch_alerts.state import StateStore

    seed_cohort(prediction_log, ddb, aws, model, n=600, start=START, end=END, concept_drift=True, seed=4)
    first = quality_job.run(QualityEvent(start=START, end=END))
    assert first.verdict == "degraded" and first.notified
    assert any(r.startswith("AUC") for r in first.reasons)
    # The estimate cannot see concept drift: it stays near validation while the realized AUC falls.
    assert first.estimated["auc"].value - first.realized["auc"].value > 0.1
    again = quality_job.run(QualityEvent(start=START, end=END))  # a rerun of the same cohort
    assert again.verdict == "degraded" and again.report_id != first.report_id
    url = quality_job.settings.notifications_queue_url
    with SlackWebhook() as slack:
        alerts = AlertsJob(
            settings=AlertsSettings().model_copy(update={"notifications_queue_url": url, "expect_traffic": False}),
            reader=prediction_log,
            state=StateStore(dynamodb=ddb, table=aws.ref("AlertStateTable"), environment="test"),
            slack=lambda: SlackClient(webhook_url=slack.url, timeout_s=2, max_attempts=1, sleep=lambda _s: None),
            sqs=sqs,
        )
        result = alerts.run(AlertsEvent())
        assert [p.kind for p in result.posted] == ["quality"]
        assert any("already delivered" in s for s in result.skipped)
        (payload,) = slack.payloads
    assert "MODEL QUALITY DEGRADED" in payload["text"] and first.cohort["start"] in payload["text"]
    blocks = json.dumps(payload["blocks"])
    assert "realized" in blocks and "estimated" in blocks and "validation" in blocks and "concept drift" in blocks
    assert "Open quality report" in blocks
    # The quality function's RETRAIN_FUNCTION reaches the note: the deployed way to act on it.
    assert f"aws lambda invoke --function-name {quality_job.settings.retrain_function} " in blocks


def test_a_cohort_with_outcomes_for_booked_loans_only_is_judged_on_them_against_the_approved_holdout_rows(
    quality_job, prediction_log, ddb, aws, model, s3, sqs
):
    records = seed_cohort(prediction_log, ddb, aws, model, n=800, start=START, end=END, seed=3, booked_only=True)
    approved = sum(r.decision == "approve" for r in records)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "ok", summary.reasons
    p = summary.population
    assert (p.name, p.labelled_rows, p.approved_rows, p.refused_labelled) == ("booked_loans", approved, approved, 0)
    assert summary.labelled_rows == approved and summary.rows == 800
    # Realized and validation are booked loans'; the estimate covers every scored prediction, beside the holdout.
    assert summary.validation == validation_figures(model.metadata, "booked_loans")
    assert summary.validation_scored == validation_figures(model.metadata)
    assert "approval_rate" not in summary.realized and summary.estimated["approval_rate"].value < 1
    assert summary.confusion.tn == summary.confusion.fn == 0
    assert "on 2" in summary.message and "booked loan(s)" in summary.message and "all 800 scored" in summary.message
    # Approvals among good or bad applicants mean nothing when every labelled row was approved.
    assert all(not f.judged and "refused applicants" in f.note for f in summary.fairness.values())
    html = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.report_html_key)["Body"].read().decode()
    assert f"Realized figures cover <b>{approved} booked loans (approved applicants with an outcome)</b>" in html
    assert "holdout rows the model approves" in html and "no outcome (no loan)" in html
    assert queued(sqs, aws) == []


def test_where_a_reviewer_decided_the_figures_use_the_final_decision_and_the_report_sets_overrides_beside_the_model(
    quality_job, prediction_log, ddb, aws, model, s3
):
    from creditwatch_common.log.reviews import ReviewStore

    records = seed_cohort(prediction_log, ddb, aws, model, n=600, start=START, end=END, seed=3)
    refused = [r for r in records if r.decision == "refuse"]
    approved = [r for r in records if r.decision == "approve"]
    decisions = {r.prediction_id: "approve" for r in refused[:40] + approved[:10]}
    decisions.update({r.prediction_id: "refuse" for r in approved[10:15]})
    store = ReviewStore(
        dynamodb=ddb, table=aws.ref("ReviewCasesTable"), log_table=prediction_log.table, shards=prediction_log.shards
    )
    review_decisions(store, records, decisions)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    rv = summary.reviewed
    assert (rv.rows, rv.reviewed_rows, rv.overridden_rows) == (600, 55, 45)
    assert (rv.approved_against_model, rv.refused_against_model) == (40, 5)
    # Booked on the final decision: the model's approvals, 40 more and 5 fewer.
    c = summary.confusion
    assert c.tp + c.fp == len(approved) + 40 - 5
    bad = {r.prediction_id for r in records if prediction_log.get(r.prediction_id).outcome == "bad"}
    against = [r.prediction_id for r in refused[:40]]
    assert (rv.overridden_approvals.rows, rv.overridden_approvals.bads) == (40, len(bad.intersection(against)))
    kept = [r.prediction_id for r in approved[:10] + approved[15:]]
    assert (rv.model_approvals.rows, rv.model_approvals.bads) == (len(kept), len(bad.intersection(kept)))
    assert rv.overridden_approvals.low < rv.overridden_approvals.value < rv.overridden_approvals.high
    assert "55 final decision(s) a reviewer's, 45 overridden" in summary.message
    html = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.report_html_key)["Body"].read().decode()
    assert "55 of 600 decisions were a reviewer&#39;s (45 against the model)" in html
    assert "approved by a reviewer, refused by the model</td><td>40</td>" in html


def test_too_few_booked_loans_with_outcomes_is_insufficient_labels_whatever_the_cohort_size(
    quality_job, prediction_log, ddb, aws, model
):
    seed_cohort(prediction_log, ddb, aws, model, n=500, start=START, end=END, seed=5, booked_only=True)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "insufficient_labels" and summary.population.name == "booked_loans"
    booked = summary.population.labelled_rows
    assert summary.reasons == [f"{booked} booked loan(s) with an outcome, 200 needed to judge"]


def test_concept_drift_on_booked_loans_pages_on_their_bad_rate_and_the_slack_note_says_booked_loans(
    quality_job, prediction_log, ddb, aws, model, sqs
):
    from creditwatch_alerts.messages import notification_message

    seed_cohort(
        prediction_log, ddb, aws, model, n=800, start=START, end=END, concept_drift=True, seed=4, booked_only=True
    )
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "degraded" and summary.population.name == "booked_loans"
    assert any(r.startswith("expected cost per booked loan") for r in summary.reasons), summary.reasons
    (note,) = queued(sqs, aws)
    assert note.population == "booked_loans"
    assert note.validation["bad_rate_approved"].value == pytest.approx(7 / 73, abs=1e-6)
    assert (note.holdout, note.holdout_rows) == ("original", 73)  # the layer's model has no recent holdout
    _, message = notification_message(note, None)
    assert "MODEL QUALITY DEGRADED on booked loans" in message["text"]
    blocks = json.dumps(message["blocks"])
    # CBPE's bad rate among the same approvals stays low: the note reads concept drift from it.
    assert "on booked loans" in blocks and "concept drift" in blocks
    assert "validation on the 73 rows the model approves of the original holdout" in blocks
    recent = note.model_copy(update={"holdout": "recent", "holdout_rows": 41})
    _, message = notification_message(recent, None)
    assert "the 41 rows the model approves of its card's recent labelled holdout" in json.dumps(message["blocks"])


def test_a_quality_alert_carries_realized_estimated_and_validation_figures(
    quality_job, prediction_log, ddb, aws, model, sqs
):
    seed_cohort(prediction_log, ddb, aws, model, n=400, start=START, end=END, concept_drift=True, seed=6)
    summary = quality_job.run(QualityEvent(start=START, end=END))
    (note,) = queued(sqs, aws)
    assert isinstance(note, QualityAlert)
    assert note.dedupe_key == "quality#2026-08-01T00:00:00Z#2026-09-01T00:00:00Z"
    assert note.realized["auc"].value == summary.realized["auc"].value
    assert note.validation["auc"].value == pytest.approx(model.metadata["metrics"]["holdout"]["roc_auc"])
    assert note.estimated["auc"].value is not None and note.report_url == summary.report_url


def test_a_log_read_failure_is_an_error_with_a_run_failed_notice(quality_job, aws, sqs):
    quality_job.source = type("Broken", (), {"read": lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x"))})()
    summary = quality_job.run(QualityEvent(start=START, end=END))
    assert summary.verdict == "error" and summary.error == "log_read_failed" and summary.notified
    (note,) = queued(sqs, aws)
    assert note.type == "run_failed" and note.job == "quality"


def test_the_handler_raises_on_error_so_lambda_retries_and_returns_the_summary_otherwise(quality_service):
    with_window = {"start": START.isoformat(), "end": END.isoformat()}
    answer = quality_service.handle(with_window)
    assert answer["verdict"] == "no_data" and answer["kind"] == "quality"
    quality_service.job.source = type(
        "Broken", (), {"read": lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x"))}
    )()
    from creditwatch_quality.app import QualityRunError

    with pytest.raises(QualityRunError, match="log_read_failed"):
        quality_service.handle(with_window)


def test_the_slack_message_reads_concept_drift_from_realized_under_estimated_and_says_when_there_is_no_estimate():
    from creditwatch_alerts.messages import notification_message
    from creditwatch_common.notifications import Interval

    base = {
        "dedupe_key": "quality#a#b",
        "environment": "prod",
        "cohort_start": "2026-08-01T00:00:00Z",
        "cohort_end": "2026-09-01T00:00:00Z",
        "reasons": ["AUC 0.600 (95% 0.560-0.640) < validation 0.782 - 0.05"],
        "rows": 1000,
        "labelled_rows": 800,
        "label_coverage": 0.8,
        "realized": {"auc": Interval(value=0.6, low=0.56, high=0.64), "bad_rate_approved": Interval(value=0.2)},
        "validation": {"auc": Interval(value=0.782, low=0.718, high=0.836)},
        "model_version": "m1",
        "report_url": "https://api.example.test/reports/quality.x?t=1",
        "report_url_expires_at": "2026-12-04T00:00:00Z",
        "report_url_signed_by": "link-token",
        "summary_key": "quality/reports/x/summary.json",
    }
    kind, message = notification_message(
        QualityAlert(**base, estimated={"auc": Interval(value=0.78, low=0.74, high=0.81)}), None
    )
    body = json.dumps(message["blocks"])
    assert kind == "quality" and "concept drift" in body and "20.0%" in body and "0.600 (0.560-0.640)" in body
    assert "800 of 1000 (80%)" in body and "Open quality report" in body
    _, no_estimate = notification_message(QualityAlert(**base, estimated={}), None)
    assert "No estimate to compare with" in json.dumps(no_estimate["blocks"])


@pytest.mark.parametrize("population", [None, "booked_loans"])
def test_the_degraded_note_proposes_the_command_that_trains_a_challenger_on_the_matured_outcomes(
    population: str | None,
) -> None:
    from creditwatch_alerts.messages import notification_message
    from creditwatch_common.notifications import Interval

    note = QualityAlert(
        dedupe_key="quality#a#b",
        environment="prod",
        cohort_start="2026-08-01T00:00:00Z",
        cohort_end="2026-09-01T00:00:00Z",
        reasons=["expected cost per booked loan 1.355 (95% 1.099-1.607) > validation 0.479 + 0.15"],
        rows=1000,
        labelled_rows=300,
        label_coverage=0.3,
        realized={"bad_rate_approved": Interval(value=0.27, low=0.22, high=0.32)},
        estimated={},
        validation={"bad_rate_approved": Interval(value=0.096)},
        model_version="m1",
        report_url=None,
        report_url_expires_at=None,
        report_url_signed_by=None,
        summary_key=None,
        population=population,
    )
    _, message = notification_message(note, None)
    blocks = json.dumps(message["blocks"])
    assert (
        "`creditwatch model train --challenger`" in blocks
        and "--table <PredictionsTable>" in blocks
        and "--shards <LogShards>" in blocks
    )
    assert "creditwatch model compare" in blocks and "creditwatch model promote" in blocks
    assert message["text"].endswith("next: creditwatch model train --challenger")


def test_the_degraded_note_names_the_retrain_job_with_the_cohort_as_its_reason_when_the_function_knows_it() -> None:
    from creditwatch_alerts.messages import notification_message

    note = QualityAlert(
        dedupe_key="quality#a#b",
        environment="prod",
        cohort_start="2026-08-01T00:00:00Z",
        cohort_end="2026-09-01T00:00:00Z",
        reasons=["AUC 0.538 < validation 0.782 - 0.05"],
        rows=1000,
        labelled_rows=300,
        label_coverage=0.3,
        realized={},
        estimated={},
        validation={},
        model_version="m1",
        report_url=None,
        report_url_expires_at=None,
        report_url_signed_by=None,
        summary_key=None,
        retrain_function="creditwatch-prod-RetrainFunction-AbC:live",
    )
    _, message = notification_message(note, None)
    blocks = json.dumps(message["blocks"])
    payload = json.dumps({"reason": "quality degraded on 2026-08-01T00:00:00Z .. 2026-09-01T00:00:00Z"})
    invoke = (
        "aws lambda invoke --function-name creditwatch-prod-RetrainFunction-AbC:live --cli-read-timeout 900 "
        f"--cli-binary-format raw-in-base64-out --payload '{payload}' retrain.json"
    )
    assert json.dumps(invoke)[1:-1] in blocks and "`creditwatch model train --challenger`" in blocks
    assert message["text"].endswith(
        "next: the retrain job creditwatch-prod-RetrainFunction-AbC:live or creditwatch model train --challenger"
    )
