"""The drift job on moto: verdicts, report objects, links, notifications and failure modes."""

import copy
import functools
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities import parameters
from lambda_context import LambdaContext

from creditwatch.local.template import Template
from creditwatch.simulate import DriftShift, application_pool, generate
from creditwatch_common.aws import AwsClients
from creditwatch_common.ids import uuid7
from creditwatch_common.notifications import parse_notification
from creditwatch_common.records import LogRecord, ScoredRow
from creditwatch_common.reports import (
    LINK_TOKEN,
    Publisher,
    SignerUnavailable,
    TokenKey,
    TokenLinks,
    report_keys,
    signer_from_secret,
    token_key_from_secret,
    verify_token,
)
from creditwatch_drift.analysis import analyse
from creditwatch_drift.attribution import load_reference_contributions, ndcg
from creditwatch_drift.models import DriftEvent
from creditwatch_drift.service import DriftJob, load_reference
from creditwatch_drift.settings import DriftSettings
from creditwatch_model import ARTIFACTS_DIR, CreditModel
from creditwatch_model.calibration import Calibration
from creditwatch_model.estimate import estimate_quality


@pytest.fixture(scope="module")
def reference(model):
    return load_reference(model)


@pytest.fixture
def job(aws, model, reference, prediction_log, s3, sqs):
    settings = DriftSettings().model_copy(
        update={
            "notifications_queue_url": sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
        }
    )
    return DriftJob(
        settings=settings,
        model=model,
        reference=reference,
        reader=prediction_log,
        reference_contributions=load_reference_contributions(model),
        publisher=Publisher(s3=AwsClients().s3, bucket=aws.ref("ReportsBucket"), tokens=token_links(aws)),
        sqs=sqs,
    )


API = "https://api.example.test/"


def token_links(aws):
    """The token links the handler builds by default: the key read from its generated secret (no cache)."""
    return TokenLinks(
        key=token_key_from_secret(parameters.get_secret, aws.ref("ReportLinkTokenSecret"), 0), base_url=API
    )


@pytest.fixture
def signer_user(aws):
    """The opt-in ReportLinkSigner=SignerUser resources (the IAM user, its key and its secret) in moto too."""
    from creditwatch.local.resources import create_resources
    from creditwatch.local.template import Template

    create_resources(
        Template(overrides={"ReportLinkSigner": "SignerUser"}),
        lambda service: boto3.client(service, region_name="us-east-1"),
    )
    return aws


def signer(aws, secret=None):
    """The signer the handler builds: the local signer user's key, read from its secret (no cache)."""
    name = secret or aws.ref("ReportLinkSignerSecret")
    return signer_from_secret(AwsClients().client, parameters.get_secret, name, 0)


def link_credential(url):
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    return query["X-Amz-Credential"][0].split("/")[0], "X-Amz-Security-Token" in query


def log_traffic(prediction_log, model, reference, n, scenario="stable", seed=1, mutate=None, referred=0):
    pool = application_pool(model, reference)
    apps = [json.loads(r.body) for r in generate(model, pool, {scenario: n}, seed, DriftShift())]
    if mutate:
        apps = [mutate(a) for a in apps]
    scores = model.score([{k: a.get(k) for k in model.schema.names} for a in apps]) if not mutate else None
    records = []
    for i, app in enumerate(apps):
        p = scores[i].probability_good_credit if scores else 0.6
        records.append(
            LogRecord(
                request_id=uuid7(),
                route="/predict",
                status=200,
                latency_ms=1.0,
                model_version=model.version,
                features=app,
                probability_good_credit=p,
                decision="approve" if p >= model.threshold else "refuse",
                # The first `referred` applications were referred to a reviewer.
                referral=["band"] if i < referred else None,
                case_id=uuid7() if i < referred else None,
            )
        )
    prediction_log.write(records)


def objects(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_insufficient_data_gives_a_clear_status_and_no_report(job, prediction_log, model, reference, s3, aws):
    log_traffic(prediction_log, model, reference, 49)
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "insufficient_data" and "49" in summary.message and "50 needed" in summary.message
    assert summary.report_url is None
    assert objects(s3, aws.ref("ReportsBucket")) == []


def test_traffic_like_the_reference_shows_no_dataset_drift(job, prediction_log, model, reference, s3, aws):
    log_traffic(prediction_log, model, reference, 500, seed=3)
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.dataset_drift is False
    assert summary.drift_share < 0.3 and summary.rows_used == 500 and summary.n_features == 19
    assert {f.name for f in summary.features} == set(model.schema.names)
    kinds = {f.test for f in summary.features}
    assert any("K-S" in k for k in kinds) and any("chi-square" in k for k in kinds)
    assert summary.notified is False
    keys = objects(s3, aws.ref("ReportsBucket"))
    assert len([k for k in keys if k.startswith("drift/")]) == 3  # html, summary, latest
    # And the report history: the run's entry, the ledger and the page.
    history = [k for k in keys if k.startswith("history/")]
    assert len(history) == 3 and {"history/index.html", "history/ledger.json"} < set(history)


def test_shifted_population_is_drift_with_named_features_report_link_and_notification(
    job, prediction_log, model, reference, s3, sqs, aws
):
    log_traffic(prediction_log, model, reference, 400, scenario="drift", seed=4)
    summary = job.run(DriftEvent(days=1))
    assert summary.dataset_drift is True and summary.drift_share >= 0.3
    assert set(DriftShift().features) <= set(summary.drifted_features)
    assert summary.outputs.approval_share_reference == pytest.approx(float((reference["decision"] == "approve").mean()))
    bucket = aws.ref("ReportsBucket")
    html = s3.get_object(Bucket=bucket, Key=summary.report_html_key)
    page = html["Body"].read().decode()
    assert html["ContentType"].startswith("text/html") and "<html" in page[:2000].lower()
    # The verdict in words leads, then the drifted features by effect, all before Evidently's scripts.
    body = page[page.lower().index("<body") :]
    verdict = f"dataset drift: {len(summary.drifted_features)} of {summary.n_features} features (paged)"
    assert body.index(verdict) < body.index('id="creditwatch-drifted"') < body.index("<script")
    stored = json.loads(s3.get_object(Bucket=bucket, Key=summary.summary_key)["Body"].read())
    assert stored["dataset_drift"] is True and stored["drifted_features"] == summary.drifted_features
    latest = json.loads(s3.get_object(Bucket=bucket, Key="drift/latest.json")["Body"].read())
    assert latest["report_html_key"] == summary.report_html_key
    # A link to our own route with a token for this report, valid for the configured 7 days.
    url = urllib.parse.urlparse(summary.report_url)
    assert f"{url.scheme}://{url.netloc}/" == API and url.path == f"/reports/{summary.report_id}"
    token = urllib.parse.parse_qs(url.query)["t"][0]
    secret = json.loads(secrets(aws).get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"])
    claims = verify_token(TokenKey.from_secret(secret), summary.report_id, token, datetime.now(UTC).timestamp())
    expires = datetime.fromtimestamp(claims.expires_at, UTC)
    assert summary.report_url_expires_at == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert timedelta(days=7) - timedelta(seconds=60) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert summary.report_html_key.endswith(f"/{summary.report_id.split('.')[1]}/report.html")
    assert summary.report_url_signed_by == LINK_TOKEN and summary.warnings == []
    (msg,) = sqs.receive_message(QueueUrl=job.settings.notifications_queue_url)["Messages"]
    note = json.loads(msg["Body"])
    assert note["type"] == "drift_detected" and note["report_url"] == summary.report_url
    assert summary.notified is True


def test_the_run_estimates_quality_on_its_window_and_says_it_holds_for_traffic_like_training(
    job, prediction_log, model, reference, s3, aws
):
    job.calibration = Calibration.load(ARTIFACTS_DIR)
    log_traffic(prediction_log, model, reference, 500, seed=3)
    summary = job.run(DriftEvent(days=1))
    estimate = summary.estimated_quality
    assert estimate is not None and estimate.rows == 500 and estimate.holds is True
    validation = model.metadata["metrics"]["validation"]["auc"]["value"]
    assert estimate.validation_auc == validation and estimate.auc.low < estimate.auc.value < estimate.auc.high
    assert abs(estimate.auc.value - validation) < 0.05
    assert "estimated quality holds" in summary.message and "no concept drift" in estimate.assumption
    # The same estimate as the model layer gives on the window's scores (the sample the run already read).
    rows = prediction_log.query_window(*DriftEvent(days=1).window(7), ScoredRow)
    scores = np.array([r.probability_good_credit for r in rows])
    direct = estimate_quality(scores, job.calibration, model.threshold, seed=job.settings.sample_seed)
    assert (
        estimate.auc.model_dump() == direct["auc"]
        and estimate.figures["expected_cost"].value == (direct["expected_cost"]["value"])
    )
    bucket = aws.ref("ReportsBucket")
    stored = json.loads(s3.get_object(Bucket=bucket, Key=summary.summary_key)["Body"].read())
    assert stored["estimated_quality"]["holds"] is True and stored["estimated_quality"]["auc"]["value"] == (
        estimate.auc.value
    )
    html = s3.get_object(Bucket=bucket, Key=summary.report_html_key)["Body"].read().decode()
    assert 'id="creditwatch-estimated-quality"' in html and "Estimated quality (no outcomes yet): holds" in html


@pytest.mark.parametrize(("validation_auc", "holds"), [(0.5, True), (0.99, False)], ids=["warning", "critical"])
def test_the_drift_note_carries_whether_estimated_quality_holds(
    job, prediction_log, model, reference, sqs, validation_auc, holds
):
    # The same drifted window judged against a low and an unreachable validation AUC: both severities.
    metadata = copy.deepcopy(model.metadata)
    metadata["metrics"]["validation"]["auc"]["value"] = validation_auc
    job.model = CreditModel(metadata, model.forest, cover=ARTIFACTS_DIR / "explain.npz")
    job.calibration = Calibration.load(ARTIFACTS_DIR)
    log_traffic(prediction_log, model, reference, 400, scenario="drift", seed=4)
    summary = job.run(DriftEvent(days=1))
    assert summary.dataset_drift is True and summary.estimated_quality.holds is holds
    (msg,) = sqs.receive_message(QueueUrl=job.settings.notifications_queue_url)["Messages"]
    note = parse_notification(msg["Body"])
    assert note.estimated_quality == summary.estimated_quality
    assert ("estimated quality holds" if holds else "estimated quality does not hold") in summary.message


def test_the_summary_report_and_metrics_give_the_windows_referral_rate_over_every_scored_application(
    job, prediction_log, model, reference, s3, capsys
):
    from creditwatch_common.observability import Observability, Service
    from creditwatch_drift.app import DriftService

    log_traffic(prediction_log, model, reference, 240, seed=3, referred=18)
    job.settings = job.settings.model_copy(update={"max_rows": 100})  # the sample is not what is counted
    service = DriftService(settings=job.settings, job=job, obs=Observability.build(Service.DRIFT, job.settings))
    Ctx = functools.partial(LambdaContext, "DriftFunction", memory_limit_in_mb=3008, request_id="r")
    out = service.handler({"days": 1}, Ctx())
    assert (out["rows_read"], out["rows_used"], out["referred_rows"], out["referral_rate"]) == (240, 100, 18, 0.075)
    assert "18 of 240 scored applications (7.5%) referred to a reviewer" in out["message"]
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]
    assert any(line.get("ReferralRate") in ([0.075], 0.075) for line in emf), emf
    html = s3.get_object(Bucket=job.publisher.bucket, Key=out["report_html_key"])["Body"].read().decode()
    assert 'id="creditwatch-drift-referrals">18 of 240 scored applications (7.5%)' in html


def test_signer_user_mode_signs_the_s3_link_with_the_users_lasting_key(
    job, signer_user, prediction_log, model, reference
):
    log_traffic(prediction_log, model, reference, 400, scenario="drift", seed=4)
    job.publisher = Publisher(s3=AwsClients().s3, bucket=signer_user.ref("ReportsBucket"), signer=signer(signer_user))
    summary = job.run(DriftEvent(days=1))
    url = urllib.parse.urlparse(summary.report_url)
    query = urllib.parse.parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["604800"] and url.path.endswith("report.html")
    # Signed by the signer user's lasting key, not the session's credentials (which would cut it short).
    name = Template(overrides={"ReportLinkSigner": "SignerUser"}).ref("ReportLinkSignerSecret")
    key = json.loads(secrets(signer_user).get_secret_value(SecretId=name)["SecretString"])
    assert link_credential(summary.report_url) == (key["access_key_id"], False)
    assert summary.report_url_signed_by == "signer-user" and summary.warnings == []


def test_an_unreadable_token_key_still_writes_the_report_with_a_role_link_and_a_warning(
    job, prediction_log, model, reference, aws
):
    log_traffic(prediction_log, model, reference, 400, scenario="drift", seed=4)
    missing = token_key_from_secret(parameters.get_secret, "no-such-secret", 0)
    job.publisher = Publisher(
        s3=AwsClients().s3, bucket=aws.ref("ReportsBucket"), tokens=TokenLinks(key=missing, base_url=API)
    )
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.report_url_signed_by == "function-role"
    assert "X-Amz-Signature" in summary.report_url
    assert any("valid only for its session" in w and "no-such-secret" in w for w in summary.warnings)


def test_rerun_of_the_same_window_keeps_both_reports_side_by_side(job, prediction_log, model, reference, s3, aws):
    log_traffic(prediction_log, model, reference, 100)
    now = datetime.now(UTC)  # the records just written carry the current time
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    first = job.run(DriftEvent(start=start, end=end))
    second = job.run(DriftEvent(start=start, end=end))
    assert first.report_html_key != second.report_html_key
    assert first.report_html_key.rsplit("/", 2)[0] == second.report_html_key.rsplit("/", 2)[0]  # one window folder
    keys = objects(s3, aws.ref("ReportsBucket"))
    reports = [k for k in keys if k.startswith("drift/")]
    assert len(reports) == 5 and all("_staging" not in k for k in keys)  # two pairs and the latest pointer
    assert len([k for k in keys if k.startswith("history/entries/")]) == 2  # both runs in the history
    latest = json.loads(s3.get_object(Bucket=aws.ref("ReportsBucket"), Key="drift/latest.json")["Body"].read())
    assert latest["summary_key"] == second.summary_key


def test_report_keys_sort_by_time():
    a = report_keys("drift", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))
    b = report_keys("drift", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC))
    assert a["html"] < b["html"] and a["latest"] == b["latest"] == "drift/latest.json"
    assert a["html"].startswith("drift/reports/2026/01/08/20260101T0000Z_20260108T0000Z/run-")
    assert a["html"] == f"drift/reports/2026/01/08/20260101T0000Z_20260108T0000Z/{a['run_id']}/report.html"


def test_two_runs_over_one_window_keep_their_own_reports_side_by_side():
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    first = report_keys("drift", start, end, run_at=datetime(2026, 1, 2, 1, tzinfo=UTC))
    second = report_keys("drift", start, end, run_at=datetime(2026, 1, 2, 1, tzinfo=UTC))
    assert first["html"] != second["html"] and first["summary"] != second["summary"]
    assert first["html"].rsplit("/", 2)[0] == second["html"].rsplit("/", 2)[0]  # same window folder
    later = report_keys("drift", start, end, run_at=datetime(2026, 1, 2, 2, tzinfo=UTC))
    assert max(first["html"], second["html"]) < later["html"]


def test_on_demand_windows_a_few_seconds_apart_get_their_own_keys():
    start = datetime(2026, 1, 1, 10, 0, 5, tzinfo=UTC)
    a = report_keys("drift", start, datetime(2026, 1, 1, 10, 0, 40, tzinfo=UTC))
    b = report_keys("drift", datetime(2026, 1, 1, 10, 0, 41, tzinfo=UTC), datetime(2026, 1, 1, 10, 0, 59, tzinfo=UTC))
    assert a["html"] != b["html"] and a["html"] < b["html"]
    assert "20260101T100005Z_20260101T100040Z" in a["html"]


def test_column_empty_in_the_window_is_reported_not_fatal(job, prediction_log, model, reference):
    def drop_job(app):
        app = dict(app)
        app.pop("job")
        return app

    log_traffic(prediction_log, model, reference, 120, mutate=drop_job)
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.empty_columns == ["job"]
    assert next(f for f in summary.features if f.name == "job").note == "empty in the window: not tested"
    assert summary.n_features == 18


def test_unknown_category_is_reported(job, prediction_log, model, reference):
    log_traffic(prediction_log, model, reference, 120, mutate=lambda a: {**a, "purpose": "A499"})
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.unknown_categories == {"purpose": ["A499"]}
    assert "purpose" in summary.drifted_features


def test_max_rows_takes_a_uniform_sample(job, prediction_log, model, reference):
    log_traffic(prediction_log, model, reference, 300)
    job.settings = job.settings.model_copy(update={"max_rows": 120})
    summary = job.run(DriftEvent(days=1))
    assert summary.rows_read == 300 and summary.rows_used == 120 and summary.sampled is True


def test_stream_sample_is_uniform_bounded_and_independent_of_order():
    import random

    from creditwatch_analytics.sampling import sample_mask, sorted_by_key
    from creditwatch_common.ids import uuid7
    from creditwatch_drift.analysis import sample_stream

    rows = [ScoredRow(uuid7(), {"x": i}, 0.5, "approve", "v1" if i % 4 else "v0") for i in range(20_000)]
    kept, seen, versions = sample_stream(iter(rows), 2_000, seed=5)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    again, _, _ = sample_stream(shuffled, 2_000, seed=5)
    assert seen == 20_000 and versions == {"v1": 15_000, "v0": 5_000} and len(kept) == 2_000
    assert {r.features["x"] for r in kept} == {
        r.features["x"] for r in again
    }  # what the parallel reader's order changes: nothing
    assert {r.features["x"] for r in sample_stream(rows, 2_000, seed=6)[0]} != {r.features["x"] for r in kept}
    # Uniform: the sample's mean of 0..19,999 is 9,999.5 within a few standard errors (~129).
    assert abs(sum(r.features["x"] for r in kept) / 2_000 - 9_999.5) < 600
    assert sum(1 for r in kept if r.model_version == "v0") in range(400, 601)
    small, n, _ = sample_stream(rows[:10], 2_000)
    # Under the cap: all, in sample-key order (the order every window engine returns).
    assert n == 10 and sorted(r.features["x"] for r in small) == list(range(10))
    assert small == sorted_by_key(rows[:10], sample_mask(0))


class FailingCopy:
    """S3 that fails the second copy of a publish: the halfway failure a report must survive."""

    def __init__(self, real):
        self.real, self.copies = real, 0

    def copy_object(self, **kw):
        self.copies += 1
        if self.copies == 2:
            raise RuntimeError("S3 went away")
        return self.real.copy_object(**kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_s3_failing_halfway_leaves_the_earlier_report_intact(job, prediction_log, model, reference, s3, aws):
    log_traffic(prediction_log, model, reference, 100)
    now = datetime.now(UTC)  # the records just written carry the current time
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    first = job.run(DriftEvent(start=start, end=end))
    bucket = aws.ref("ReportsBucket")
    before = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in objects(s3, bucket)}
    log_traffic(prediction_log, model, reference, 200, scenario="drift", seed=9)
    job.publisher = Publisher(s3=FailingCopy(s3), bucket=bucket)
    failed = job.run(DriftEvent(start=start, end=end))
    assert failed.status == "error" and failed.error == "publish_failed" and failed.report_url is None
    after = {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in objects(s3, bucket)}
    assert after == before
    assert first.status == "ok"


def test_missing_bucket_and_missing_table_are_statuses_not_crashes(job, prediction_log, model, reference):
    log_traffic(prediction_log, model, reference, 60)
    job.publisher.bucket = "no-such-bucket"
    assert job.run(DriftEvent(days=1)).status == "error"
    job.reader.table = "no-such-table"
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "error" and "ResourceNotFoundException" in summary.message


@pytest.mark.parametrize(
    "event",
    [
        {"days": 0},
        {"start": "2026-11-22T00:00:00Z"},
        {"start": "2026-11-22T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
        {"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00"},
        {"threshold": 2},
        {"hours": 0},
        {"days": 1, "hours": 2},
        {"hours": 1, "start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
    ],
)
def test_invalid_events_are_rejected(event):
    with pytest.raises(ValueError):
        DriftEvent.model_validate(event)


def test_days_window_ends_at_the_next_hour():
    start, end = DriftEvent(days=7).window(7, now=datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    assert end == datetime(2026, 11, 22, 10, tzinfo=UTC) and start == end - timedelta(days=7)


def test_hours_window_is_whole_hours(event):
    last_hour = DriftEvent.model_validate(event("drift-last-hour.json"))
    start, end = last_hour.window(7, now=datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 11, 22, 9, tzinfo=UTC), datetime(2026, 11, 22, 10, tzinfo=UTC))


def test_reference_matches_the_models_outputs(model, reference):
    p = model.predict_good(reference[model.schema.names].to_dict("records"))
    assert np.allclose(p, reference["probability_good_credit"], atol=1e-9)


def one_feature_drifting(reference):
    """A window like the reference but for its loan durations, three times as long."""
    current = reference.sample(400, random_state=3).reset_index(drop=True)
    current["duration_in_month"] = current["duration_in_month"] * 3
    return current


def test_one_drifting_feature_is_evidentlys_count_of_one_and_share_of_one_in_nineteen(model, reference):
    analysis = analyse(one_feature_drifting(reference), reference, model, 0.5, [])
    assert (analysis.drifted_count, analysis.drift_share) == (1, 1 / 19)
    assert [f.name for f in analysis.features if f.drifted] == ["duration_in_month"]
    assert not analysis.dataset_drift


def test_a_drift_share_equal_to_the_threshold_fails_evidentlys_dataset_test(model, reference):
    analysis = analyse(one_feature_drifting(reference), reference, model, 1 / 19, [])
    assert analysis.drifted_count == 1
    assert analysis.dataset_drift


def secrets(aws):
    return boto3.client("secretsmanager", region_name="us-east-1")


def test_without_the_signer_secret_the_link_is_signed_by_the_role_and_says_so(
    job, prediction_log, model, reference, aws
):
    log_traffic(prediction_log, model, reference, 100)
    job.publisher.tokens = None  # ReportLinkSigner=SignerUser
    job.publisher.signer = signer(aws, secret="creditwatch/dev/no-such-secret")
    summary = job.run(DriftEvent(days=1))
    assert summary.status == "ok" and summary.report_url  # the report is not lost for want of a signer
    assert summary.report_url_signed_by == "function-role"
    assert link_credential(summary.report_url)[1] is True  # signed with a session: its token is in the link
    (warning,) = summary.warnings
    assert "valid only for its session" in warning and "no-such-secret" in warning


def test_a_rotated_signer_key_is_used_from_the_next_run_and_never_shown(signer_user):
    aws = signer_user
    sm = secrets(aws)
    name = Template(overrides={"ReportLinkSigner": "SignerUser"}).ref("ReportLinkSignerSecret")
    build = signer(aws, name)
    first = build()
    assert build() is first  # one client per key
    rotated = {"access_key_id": "AKIAROTATED", "secret_access_key": "s"}
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(rotated))
    url = build().generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert link_credential(url) == ("AKIAROTATED", False)
    sm.put_secret_value(SecretId=name, SecretString='{"access_key_id": "AKIAX", "secret_access_key": SUPERSECRET')
    with pytest.raises(SignerUnavailable) as err:
        build()
    assert "SUPERSECRET" not in str(err.value) and err.value.__cause__ is None and err.value.__suppress_context__
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"access_key_id": "AKIAX"}))
    with pytest.raises(SignerUnavailable, match="lacks access_key_id and secret_access_key"):
        build()


def test_a_failed_run_is_a_function_error_with_its_metric_and_one_notice_for_slack(aws, sqs, model, capsys):
    from creditwatch_common.notifications import RunFailed, parse_notification
    from creditwatch_drift.app import DriftRunError, build

    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    settings = DriftSettings().model_copy(update={"predictions_table": "no-such-table", "notifications_queue_url": url})
    service = build(settings, AwsClients(), model=model)

    Ctx = functools.partial(LambdaContext, "DriftFunction", memory_limit_in_mb=3008, request_id="r")

    event = {"start": "2026-11-22T00:00:00Z", "end": "2026-11-23T00:00:00Z"}
    with pytest.raises(DriftRunError, match="log_read_failed"):
        service.handler(event, Ctx())
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]
    assert any(line.get("DriftRunFailed") in ([1.0], 1.0) for line in emf), emf
    (msg,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    note = parse_notification(msg["Body"])
    assert isinstance(note, RunFailed) and note.job == "drift" and note.error == "log_read_failed"
    assert note.dedupe_key == "run_failed#drift#2026-11-22T00:00:00Z#2026-11-23T00:00:00Z#log_read_failed"


def test_ndcg_is_one_for_the_same_order_and_falls_as_important_features_sink():
    importance = {"a": 0.5, "b": 0.3, "c": 0.1, "d": 0.05}
    assert ndcg(importance, ["a", "b", "c", "d"]) == pytest.approx(1.0)
    swapped = ndcg(importance, ["b", "a", "c", "d"])
    reversed_ = ndcg(importance, ["d", "c", "b", "a"])
    idcg = 0.5 + 0.3 / np.log2(3) + 0.1 / 2 + 0.05 / np.log2(5)
    assert swapped == pytest.approx((0.3 + 0.5 / np.log2(3) + 0.1 / 2 + 0.05 / np.log2(5)) / idcg)
    assert 1.0 > swapped > reversed_


def test_the_shipped_reference_contributions_are_the_models_own(model, reference):
    shipped = load_reference_contributions(model)
    _, computed = model.explain(reference[model.schema.names].to_dict("records"))
    assert np.abs(shipped[["shap_" + n for n in model.schema.names]].to_numpy() - computed).max() < 1e-9


def test_every_report_compares_what_drives_the_decisions_with_the_reference(
    job, prediction_log, model, reference, s3, aws
):
    log_traffic(prediction_log, model, reference, 400, seed=3)
    summary = job.run(DriftEvent(days=1))
    att = summary.attribution
    assert att is not None and att.rows == 400 and len(att.features) == 19
    # Traffic drawn like the training data ranks the features as the reference does.
    assert att.ndcg > 0.95 and not att.drifted
    assert sorted(f.rank_reference for f in att.features) == list(range(1, 20))
    top = max(att.features, key=lambda f: f.mean_abs_reference)
    assert top.rank_reference == 1 and top.rank_current <= 2
    assert att.refusals_current > 0 and att.first_reasons
    assert sum(r.share_current or 0 for r in att.first_reasons) == pytest.approx(1.0, abs=1e-5)
    body = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.report_html_key)["Body"].read().decode()
    assert "creditwatch-attribution" in body and "Attribution drift" in body
    stored = json.loads(s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summary.summary_key)["Body"].read())
    assert stored["attribution"]["ndcg"] == att.ndcg


def test_attribution_drift_alone_sends_a_drift_note_that_says_so(job, prediction_log, model, reference, sqs):
    from creditwatch_alerts.messages import drift_message
    from creditwatch_common.notifications import parse_notification

    log_traffic(prediction_log, model, reference, 400, seed=3)
    # A threshold no real window meets: the ranking "changed" while the inputs did not drift.
    job.settings = job.settings.model_copy(update={"attribution_threshold": 0.999999})
    summary = job.run(DriftEvent(days=1))
    assert summary.dataset_drift is False and summary.attribution.drifted and summary.notified
    (msg,) = sqs.receive_message(QueueUrl=job.settings.notifications_queue_url)["Messages"]
    note = parse_notification(msg["Body"])
    assert note.attribution_drifted and not note.dataset_drift and note.attribution_ndcg == summary.attribution.ndcg
    assert "ATTRIBUTION DRIFT" in drift_message(note, None)["text"]
