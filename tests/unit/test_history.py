"""The report history: entries per report, the index rebuilt from them, its links, races and hostile strings."""

import itertools
import json
import math
import re
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters
from history_samples import drift_summary, history, quality_summary
from lambda_context import LambdaContext

from creditwatch_analytics.history import (
    HistoryStore,
    NotAnEntry,
    entry_from_summary,
    index_link,
    newest_first,
    rebuild,
    update_history,
)
from creditwatch_analytics.history_page import render_index
from creditwatch_common.aws import AwsClients
from creditwatch_common.reports import (
    INDEX_ID,
    Publisher,
    TokenKey,
    TokenLinks,
    mint_token,
    token_key_from_secret,
    verify_token,
)

API = "https://api.example.test/"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def publisher(aws, s3=None) -> Publisher:
    tokens = TokenLinks(
        key=token_key_from_secret(parameters.get_secret, aws.ref("ReportLinkTokenSecret"), 0), base_url=API
    )
    return Publisher(s3=s3 or AwsClients().s3, bucket=aws.ref("ReportsBucket"), tokens=tokens)


def token_key(aws) -> TokenKey:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    return TokenKey.from_secret(
        json.loads(sm.get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"])
    )


def index_rows(html: str) -> list[str]:
    return re.findall(r'<tr data-report-id="([^"]+)"', html)


def read_index(s3, aws) -> str:
    return s3.get_object(Bucket=aws.ref("ReportsBucket"), Key="history/index.html")["Body"].read().decode()


# ---------------------------------------------------------------------------- entries


def test_a_drift_summary_gives_its_verdicts_and_every_trend_figure():
    entry = entry_from_summary(drift_summary(20))
    assert entry.kind == "drift" and entry.verdict == "drift"
    assert entry.drift_share == pytest.approx(0.05 + 0.24 + 0.03 * math.sin(20), abs=1e-4)
    assert entry.score_psi == pytest.approx(0.18) and entry.score_psi_band == "moderate"
    assert entry.attribution_ndcg == pytest.approx(0.93) and entry.attribution_drifted is False
    assert entry.approval_rate == pytest.approx(0.62) and entry.approval_rate_reference == 0.7
    assert {r.attribute for r in entry.disparate_impact} == {"sex", "age", "foreign_worker"}
    assert entry.auc_estimated is not None and entry.auc_estimated.low < entry.auc_estimated.value
    assert entry.auc_validation == 0.78


def test_a_quality_summary_per_the_contract_gives_its_verdict_auc_intervals_and_approval_rate():
    entry = entry_from_summary(quality_summary(21))
    assert (
        entry.kind == "quality"
        and entry.verdict == "degraded"
        and entry.reasons == ["AUC 0.68 < validation 0.78 - 0.05"]
    )
    assert entry.window_end == quality_summary(21)["cohort"]["end"]
    assert entry.auc_realized.value == pytest.approx(0.676) and entry.auc_realized.high == pytest.approx(0.716)
    assert entry.auc_estimated.value == pytest.approx(0.711) and entry.auc_validation == 0.78
    assert entry.approval_rate == 0.68 and entry.label_coverage == 0.8
    # Too few labels: no realized figures, still listed with its verdict.
    thin = entry_from_summary(quality_summary(0, verdict="insufficient_labels", realized={}, estimated={}))
    assert thin.verdict == "insufficient_labels" and thin.auc_realized is None and thin.auc_estimated is None


def test_a_quality_run_on_booked_loans_draws_its_realized_auc_apart_and_keeps_the_whole_holdout_as_the_line():
    population = {
        "name": "booked_loans",
        "labelled_rows": 150,
        "approved_rows": 170,
        "approved_labelled": 150,
        "refused_rows": 530,
        "refused_labelled": 0,
    }
    booked = quality_summary(
        14,
        population=population,
        realized={"auc": {"value": 0.61, "low": 0.5, "high": 0.72}},
        validation={"auc": {"value": 0.751, "low": 0.58, "high": 0.919}},
        validation_scored={"auc": {"value": 0.782, "low": 0.723, "high": 0.835}},
    )
    entry = entry_from_summary(booked)
    assert entry.population == "booked_loans" and entry.auc_validation == 0.782
    page = render_index([entry, entry_from_summary(quality_summary(7))], {}, generated_at="2026-10-31T01:00:00Z")
    # Booked loans rank less well than all applicants: their realized AUC is a series of its own, named so.
    assert b"realized (booked loans)" in page and b"AUC (booked loans) 0.610" in page


def test_a_run_without_a_report_or_with_a_foreign_id_is_not_an_entry():
    with pytest.raises(NotAnEntry):
        entry_from_summary(drift_summary(1, report_id=None, status="insufficient_data"))
    with pytest.raises(NotAnEntry):
        entry_from_summary(drift_summary(1, report_id="../../index.html"))
    with pytest.raises(NotAnEntry):
        entry_from_summary(drift_summary(1, report_id=INDEX_ID))


# ---------------------------------------------------------------------------- the page


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def test_every_string_from_a_summary_is_escaped_and_the_page_cannot_run_script():
    summary = drift_summary(
        3,
        drift=0.5,
        environment=HOSTILE,
        model_version=HOSTILE,
        message=HOSTILE,
        drifted_features=[HOSTILE, "credit_amount"],
    )
    summary["fairness"]["attributes"][0]["attribute"] = HOSTILE
    summary["fairness"]["attributes"][1]["current"]["lowest_group"] = HOSTILE
    quality = quality_summary(21, reasons=[HOSTILE], model_version=HOSTILE, message=HOSTILE)
    quality["fairness"]["sex"]["lowest_group"] = HOSTILE
    entries = newest_first([entry_from_summary(summary), entry_from_summary(quality)])
    links = {e.report_id: f"https://x.test/r?a=1&b={HOSTILE}" for e in entries}
    page = render_index(entries, links, generated_at=HOSTILE).decode()
    assert (
        "<script" not in page and "<img" not in page and "onerror=alert" not in page.replace("onerror=alert(2)&gt;", "")
    )
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"
    assert page.count(escaped) >= 6, page.count(escaped)
    assert 'href="https://x.test/r?a=1&amp;b=&lt;script&gt;' in page
    # A second net: the page allows no script at all, nor any remote load.
    assert "default-src 'none'; style-src 'unsafe-inline'; img-src data:" in page
    assert '<meta name="referrer" content="no-referrer">' in page


def test_the_page_needs_no_other_file_and_no_host():
    entries = newest_first(entry_from_summary(s) for s in history(10))
    page = render_index(entries, {}, generated_at="2026-11-27T00:00:00Z").decode()
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", page), "the page must load nothing"
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    # Seven trend charts, each drawn (a line with points), newest report first in the table.
    assert page.count('<figure class="chart"') == 7 and "empty" not in page
    assert index_rows(page) == [e.report_id for e in entries]


def test_charts_without_data_say_so_instead_of_drawing_nothing():
    entries = [entry_from_summary(drift_summary(1, estimated_quality=None))]
    page = render_index(entries, {}, generated_at="2026-11-27T00:00:00Z").decode()
    assert 'data-chart="AUC: realized (outcomes) and estimated (CBPE), 95% intervals"><figcaption>' in page
    assert "no quality figures yet" in page


# ---------------------------------------------------------------------------- the store on moto


def test_updates_list_every_report_newest_first_with_token_links_for_the_index_validity(aws, s3):
    pub = publisher(aws)
    summaries = history(15)
    for s in summaries:
        update_history(pub, s, link_seconds=3600, now=NOW)
    page = read_index(s3, aws)
    expected = [e.report_id for e in newest_first(entry_from_summary(s) for s in summaries)]
    assert index_rows(page) == expected and len(expected) == 15 + 3
    assert "Report links on this page open until 2026-11-27T13:00:00Z" in page
    key = token_key(aws)
    linked = re.findall(r'<tr data-report-id="([^"]+)".*?<a href="([^"]+)"', page)
    assert [r for r, _ in linked] == expected
    for report_id, href in linked:
        url = urllib.parse.urlparse(href.replace("&amp;", "&"))
        assert f"{url.scheme}://{url.netloc}/" == API and url.path == f"/reports/{report_id}"
        token = urllib.parse.parse_qs(url.query)["t"][0]
        assert verify_token(key, report_id, token, NOW.timestamp()).expires_at == NOW.timestamp() + 3600
    head = s3.head_object(Bucket=aws.ref("ReportsBucket"), Key="history/index.html")
    assert head["ContentType"].startswith("text/html") and head["CacheControl"] == "no-store"


def test_a_retried_run_adds_no_second_row(aws, s3):
    pub = publisher(aws)
    first = update_history(pub, drift_summary(1), link_seconds=60)
    again = update_history(pub, drift_summary(1), link_seconds=60)
    assert first.recorded and not again.recorded and again.entries == 1
    assert len(index_rows(read_index(s3, aws))) == 1


class Counting:
    """An S3 client that counts the calls it passes on."""

    def __init__(self, real):
        self.real, self.calls = real, {}

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if not callable(attr) or name in ("exceptions", "meta"):
            return attr

        def call(*a, **kw):
            key = (name, kw.get("Key", "").split("/")[1] if "/" in kw.get("Key", "") else kw.get("Key"))
            self.calls[key] = self.calls.get(key, 0) + 1
            return attr(*a, **kw)

        return call


def test_an_update_reads_the_ledger_and_only_the_entries_it_lacks(aws, s3):
    pub = publisher(aws)
    store = HistoryStore(s3=s3, bucket=aws.ref("ReportsBucket"))
    for s in history(40):
        store.add(entry_from_summary(s))
    first = store.update(lambda es: b"<html>")
    assert first.entries == 46 and first.entries_read == 46
    counting = Counting(AwsClients().s3)
    result = update_history(publisher(aws, counting), drift_summary(41), link_seconds=60)
    assert result.entries == 47
    reads = {k: v for k, v in counting.calls.items() if k[0] == "get_object"}
    # The ledger once, the run's own entry once: not the 46 others.
    assert reads == {("get_object", "ledger.json"): 1, ("get_object", "entries"): 1}, counting.calls
    assert pub.bucket


def test_a_writer_whose_view_went_stale_gets_412_and_starts_again(aws, s3):
    """Another run writes the index between this one's listing and its write: nothing of either is lost."""
    pub = publisher(aws)
    update_history(pub, drift_summary(1), link_seconds=60)

    class Racing(Counting):
        raced = False

        def put_object(self, **kw):
            if kw["Key"] == "history/index.html" and not Racing.raced:
                Racing.raced = True
                update_history(publisher(aws), drift_summary(3), link_seconds=60)  # lands first
            return self.real.put_object(**kw)

    result = update_history(publisher(aws, Racing(AwsClients().s3)), drift_summary(2), link_seconds=60)
    assert Racing.raced and result.attempts == 2 and result.entries == 3
    assert len(index_rows(read_index(s3, aws))) == 3


@pytest.fixture
def moto_server():
    from faults import threaded_moto

    with threaded_moto() as endpoint:
        yield endpoint


def test_concurrent_updates_from_threads_against_the_moto_server_lose_nothing(moto_server):
    def client():
        return boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)

    client().create_bucket(Bucket="reports")
    summaries = [drift_summary(d) for d in range(12)] + [quality_summary(d) for d in range(0, 12, 4)]
    barrier = threading.Barrier(len(summaries))
    results, errors = [], []

    def run(summary):
        pub = Publisher(s3=client(), bucket="reports")
        barrier.wait()
        try:
            results.append(update_history(pub, summary, link_seconds=600))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in summaries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == len(summaries)
    page = client().get_object(Bucket="reports", Key="history/index.html")["Body"].read().decode()
    assert sorted(index_rows(page)) == sorted(s["report_id"] for s in summaries)
    ledger = json.loads(client().get_object(Bucket="reports", Key="history/ledger.json")["Body"].read())
    assert len(ledger["entries"]) <= len(summaries)
    # They really raced: at least one writer had to start again.
    assert max(r.attempts for r in results) > 1, [r.attempts for r in results]


def test_rebuild_recreates_the_history_from_the_summaries_in_the_bucket(aws, s3):
    pub = publisher(aws)
    bucket = aws.ref("ReportsBucket")
    summaries = history(9)
    for s in summaries:
        s3.put_object(Bucket=bucket, Key=s["summary_key"], Body=json.dumps(s).encode())
    s3.put_object(Bucket=bucket, Key="drift/reports/x/summary.json", Body=json.dumps(drift_summary(1, report_id=None)))
    assert rebuild(pub, [s["summary_key"] for s in summaries] + ["drift/reports/x/summary.json"]) == len(summaries)
    assert rebuild(pub, [s["summary_key"] for s in summaries]) == 0
    store = HistoryStore(s3=s3, bucket=bucket)
    entries, _ = store.entries()
    assert [e.report_id for e in entries] == [
        e.report_id for e in newest_first(entry_from_summary(s) for s in summaries)
    ]


def test_a_rebuild_reports_each_summary_read_up_to_all_of_them(aws, s3):
    bucket = aws.ref("ReportsBucket")
    summaries = history(3)
    for s in summaries:
        s3.put_object(Bucket=bucket, Key=s["summary_key"], Body=json.dumps(s).encode())
    seen: list[tuple[int, int]] = []
    rebuild(publisher(aws), [s["summary_key"] for s in summaries], progress=lambda d, t: seen.append((d, t)))
    n = len(summaries)
    assert seen == [(i, n) for i in range(n + 1)]


# ---------------------------------------------------------------------------- the token route


@pytest.fixture
def gate(aws):
    from creditwatch_reports.app import build
    from creditwatch_reports.settings import ReportsSettings

    parameters.clear_caches()
    return build(ReportsSettings().model_copy(update={"cache_max_age_s": 0}), AwsClients())


def route(report_id: str, token: str) -> dict:
    return {
        "version": "2.0",
        "rawPath": f"/reports/{report_id}",
        "pathParameters": {"report_id": report_id},
        "queryStringParameters": {"t": token},
        "requestContext": {"requestId": "r", "http": {"method": "GET", "sourceIp": "203.0.113.9", "userAgent": "t"}},
    }


def test_the_token_route_opens_the_index_and_the_index_links_open_their_reports(aws, s3, gate):
    pub = publisher(aws)
    summaries = history(3)
    for s in summaries:
        s3.put_object(
            Bucket=aws.ref("ReportsBucket"), Key=s["report_html_key"], Body=b"<html>" + s["report_id"].encode()
        )
        update_history(pub, s, link_seconds=3600)
    link = index_link(pub, 3600)
    assert link.url.startswith(f"{API}reports/index?t=")
    answer = gate.handle(route(INDEX_ID, urllib.parse.parse_qs(urllib.parse.urlparse(link.url).query)["t"][0]))
    assert answer["statusCode"] == 302 and urllib.parse.urlparse(answer["headers"]["Location"]).path.endswith(
        "/history/index.html"
    )
    page = requests.get(answer["headers"]["Location"], timeout=5).text
    assert index_rows(page) == [e.report_id for e in newest_first(entry_from_summary(s) for s in summaries)]
    # Each link on the page opens its own report through the same route.
    for report_id, href in re.findall(r'<tr data-report-id="([^"]+)".*?<a href="([^"]+)"', page):
        token = urllib.parse.parse_qs(urllib.parse.urlparse(href.replace("&amp;", "&")).query)["t"][0]
        opened = gate.handle(route(report_id, token))
        assert opened["statusCode"] == 302
        assert requests.get(opened["headers"]["Location"], timeout=5).text == f"<html>{report_id}"
        # A report's token does not open the index, nor the index's another report.
        assert gate.handle(route(INDEX_ID, token))["statusCode"] == 403
    index_token = urllib.parse.parse_qs(urllib.parse.urlparse(link.url).query)["t"][0]
    assert gate.handle(route(summaries[0]["report_id"], index_token))["statusCode"] == 403


def test_the_index_of_a_bucket_without_history_is_refused_like_any_unknown_report(aws, gate):
    token = mint_token(token_key(aws), INDEX_ID, int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
    assert gate.handle(route(INDEX_ID, token))["statusCode"] == 403


# ---------------------------------------------------------------------------- the drift job


@pytest.fixture
def drift_job(aws, model, prediction_log, s3, sqs):
    from creditwatch_drift.attribution import load_reference_contributions
    from creditwatch_drift.service import DriftJob, load_reference
    from creditwatch_drift.settings import DriftSettings
    from creditwatch_drift.stability import load_stability_bins

    url = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    return DriftJob(
        settings=DriftSettings().model_copy(update={"notifications_queue_url": url}),
        model=model,
        reference=load_reference(model),
        reader=prediction_log,
        reference_contributions=load_reference_contributions(model),
        stability_bins=load_stability_bins(),
        publisher=publisher(aws),
        sqs=sqs,
    )


def test_several_drift_runs_are_all_in_the_index_newest_first_and_the_drift_note_links_it(
    drift_job, prediction_log, model, s3, sqs, aws
):
    from test_drift import log_traffic

    from creditwatch_common.notifications import parse_notification
    from creditwatch_drift.models import DriftEvent

    reference = drift_job.reference
    log_traffic(prediction_log, model, reference, 120, scenario="stable", seed=2)
    log_traffic(prediction_log, model, reference, 300, scenario="drift", seed=3)
    start = datetime.now(UTC) - timedelta(hours=1)
    event = DriftEvent(start=start, end=start + timedelta(hours=2))
    summaries = [drift_job.run(event, now=NOW + timedelta(hours=h)) for h in (1, 2, 3)]
    assert all(s.status == "ok" and s.history_updated is True and not s.warnings for s in summaries)
    page = read_index(s3, aws)
    assert index_rows(page) == [s.report_id for s in reversed(summaries)]
    assert summaries[-1].index_url.startswith(f"{API}reports/index?t=")
    token = urllib.parse.parse_qs(urllib.parse.urlparse(summaries[-1].index_url).query)["t"][0]
    assert verify_token(token_key(aws), INDEX_ID, token, datetime.now(UTC).timestamp())
    # The stored summary holds the index link too; the Slack note carries it.
    stored = json.loads(s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=summaries[0].summary_key)["Body"].read())
    assert stored["index_url"] == summaries[0].index_url
    notes = [
        parse_notification(m["Body"])
        for m in sqs.receive_message(QueueUrl=drift_job.settings.notifications_queue_url, MaxNumberOfMessages=10)[
            "Messages"
        ]
    ]
    assert notes and all(n.index_url and n.index_url.startswith(f"{API}reports/index?t=") for n in notes)
    # Every figure the charts draw came through from the real summary.
    (entry,) = [
        e
        for e in HistoryStore(s3=s3, bucket=aws.ref("ReportsBucket")).entries()[0]
        if e.report_id == summaries[0].report_id
    ]
    assert entry.drift_share == summaries[0].drift_share and entry.score_psi == summaries[0].stability.score.psi
    assert entry.attribution_ndcg == summaries[0].attribution.ndcg
    assert {r.attribute for r in entry.disparate_impact} == {"sex", "age", "foreign_worker"}


class FailingHistory:
    """S3 that refuses every write under history/ (the run's report keys work)."""

    def __init__(self, real):
        self.real = real

    def put_object(self, **kw):
        if kw["Key"].startswith("history/"):
            raise RuntimeError("injected: history write refused")
        return self.real.put_object(**kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_history_that_cannot_be_written_leaves_the_run_and_its_report_intact_and_is_counted(
    drift_job, prediction_log, model, s3, aws, capsys
):
    from test_drift import log_traffic

    from creditwatch_common.observability import Observability, Service
    from creditwatch_drift.app import DriftService

    drift_job.publisher = Publisher(
        s3=FailingHistory(AwsClients().s3), bucket=aws.ref("ReportsBucket"), tokens=drift_job.publisher.tokens
    )
    log_traffic(prediction_log, model, drift_job.reference, 120, scenario="stable", seed=5)
    service = DriftService(drift_job.settings, drift_job, Observability.build(Service.DRIFT, drift_job.settings))

    capsys.readouterr()
    result = service.handler({"days": 1, "notify": False}, LambdaContext("DriftFunction", memory_limit_in_mb=3008))
    assert result["status"] == "ok" and result["history_updated"] is False
    assert any("report history not updated" in w for w in result["warnings"])
    assert s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=result["report_html_key"])["ContentLength"] > 1000
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]
    assert any(line.get("HistoryUpdateFailed") in ([1.0], 1.0) for line in emf), emf


def test_an_entry_of_a_later_version_is_left_out_without_stalling_the_update(aws, s3):
    bucket = aws.ref("ReportsBucket")
    s3.put_object(Bucket=bucket, Key="history/entries/20990101T000000Z.future.json", Body=b'{"version": 2}')
    result = update_history(publisher(aws), drift_summary(1), link_seconds=60)
    assert result.attempts == 1 and result.entries == 1
    assert index_rows(read_index(s3, aws)) == [drift_summary(1)["report_id"]]


def test_a_low_ratio_that_did_not_page_says_so_beside_its_figures_and_wide_intervals_are_drawn_clipped():
    summary = drift_summary(2)
    age = summary["fairness"]["attributes"][1]
    age["current"].update(disparate_impact_ratio=0.21, ratio_interval=[0.05, 5.6])
    age.update(alert=False, below_threshold=True)  # the training reference already had the gap: shown, not paged
    page = render_index([entry_from_summary(summary)], {}, generated_at="2026-11-27T00:00:00Z").decode()
    assert (
        '<span class="badge warn">age: disparate impact 0.21 (95% 0.05-5.60), under 25 vs 25 and over: '
        "below 0.8 (as in training; not paged)</span>"
    ) in page
    assert ">ok<" not in page and "no alert" not in page
    chart = _chart(page, "Disparate impact")
    ticks = [float(t) for t in re.findall(r'class="ytick">([-\d.]+)<', chart)]
    assert min(ticks) == 0.0 and max(ticks) <= 1.25 and "(95% 0.050-5.600) (drawn clipped)" in chart


# ---------------------------------------------------------------------------- typed summaries, words, charts


def test_the_entry_is_built_from_the_typed_summary_and_a_summary_that_is_not_one_is_not_an_entry():
    from creditwatch_analytics.summaries import DriftSummary, QualitySummary

    assert entry_from_summary(DriftSummary.model_validate(drift_summary(20))) == entry_from_summary(drift_summary(20))
    assert entry_from_summary(QualitySummary.model_validate(quality_summary(7))) == entry_from_summary(
        quality_summary(7)
    )
    broken = drift_summary(20)
    del broken["rows_used"]
    with pytest.raises(NotAnEntry):
        entry_from_summary(broken)


def _chart(page: str, title: str) -> str:
    return re.search(rf'data-chart="{re.escape(title)}.*?</figure>', page, re.S).group(0)


def test_shares_rates_and_ratios_are_drawn_from_zero_and_no_axis_goes_below_it():
    entries = newest_first(entry_from_summary(s) for s in history(12))
    page = render_index(entries, {}, generated_at="2026-11-27T00:00:00Z").decode()
    for title in ("Drift share", "Score PSI", "Attribution drift", "Disparate impact", "Approval rate"):
        ticks = re.findall(r'class="ytick">([^<]+)<', _chart(page, title))
        assert ticks[0] in ("0%", "0.00"), (title, ticks)
    for tick in re.findall(r'class="ytick">([^<]+)<', page):
        assert not tick.startswith("-"), tick


def test_runs_over_windows_of_different_lengths_are_separate_series():
    week = [drift_summary(d) for d in range(4)]
    hour = [
        drift_summary(d, window_start=s["window_end"].replace("T00:00:00Z", "T23:00:00Z")) for d, s in enumerate(week)
    ]
    for s, w in zip(hour, week, strict=True):
        end = datetime.fromisoformat(w["window_end"].replace("Z", "+00:00"))
        s["window_start"] = (end - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        s["report_id"] = s["report_id"].replace("-0000", "-1000")
    entries = newest_first(entry_from_summary(s) for s in week + hour)
    chart = _chart(render_index(entries, {}, generated_at="2026-11-27T00:00:00Z").decode(), "Drift share")
    assert set(re.findall(r'<polyline[^>]*data-series="([^"]+)"', chart)) == {"drift_share", "drift_share_1h"}
    assert "drift share, 7 d window (4)" in chart and "drift share, 1 h window (4)" in chart


def test_intervals_are_whiskers_of_their_own_series_set_apart_never_overlapping_bands():
    entries = newest_first(entry_from_summary(s) for s in history(8))
    page = render_index(entries, {}, generated_at="2026-11-27T00:00:00Z").decode()
    assert "<polygon" not in page
    chart = _chart(page, "Disparate impact")
    whiskers = re.findall(r'<g class="whisker" stroke="[^"]+" data-series="([^"]+)"><line x1="([\d.]+)"', chart)
    # At one window end, each attribute's whisker stands at its own x.
    first = {series: float(x) for series, x in whiskers[::8]} if whiskers else {}
    by_series: dict[str, list[float]] = {}
    for series, x in whiskers:
        by_series.setdefault(series, []).append(float(x))
    assert set(by_series) == {"di_age", "di_foreign_worker", "di_sex"} and first
    xs = sorted(min(v) for v in by_series.values())
    assert all(b - a >= 8 for a, b in itertools.pairwise(xs)), xs


def test_a_row_shows_when_its_report_was_written_its_verdict_in_words_and_outcome_fairness():
    drifted, quality = drift_summary(25, drift=0.5), quality_summary(21)
    page = render_index(
        newest_first([entry_from_summary(drifted), entry_from_summary(quality)]), {}, generated_at="x"
    ).decode()
    rows = dict(re.findall(r'<tr data-report-id="([^"]+)".*?>(.*?)</tr>', page, re.S))
    drift_row, quality_row = rows[drifted["report_id"]], rows[quality["report_id"]]
    assert f'<td class="when">{drifted["written_at"]}</td>' in drift_row
    assert drifted["written_at"] != drifted["generated_at"]
    assert '<span class="badge alert">dataset drift: 2 of 19 features (paged)</span>' in drift_row
    assert ">ok<" not in drift_row and ">no alert<" not in drift_row
    assert "quality degraded (paged)" in quality_row
    assert "sex: equal opportunity 0.90 (95% 0.80-0.99), female vs male (reported; not paged)" in quality_row
    assert "n/a" not in quality_row
