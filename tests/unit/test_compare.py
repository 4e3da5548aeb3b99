"""The compare job end to end on moto: shadow traffic through the predict handler, outcomes, report, evidence, note."""

import copy
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from challengers import challenger_of
from predict_calls import call

from creditwatch_analytics.history import HistoryStore
from creditwatch_common.aws import AwsClients
from creditwatch_common.model_registry import ComparisonEvidence
from creditwatch_common.notifications import ComparisonReady, parse_notification
from creditwatch_compare.app import build as build_compare
from creditwatch_compare.settings import CompareSettings
from creditwatch_predict.app import build as build_predict
from creditwatch_predict.settings import PredictSettings


@pytest.fixture(scope="module")
def applications():
    from creditwatch_analytics.training import load_data
    from creditwatch_model import load_model

    return load_data()[load_model().schema.names].iloc[:600].to_dict("records")


@pytest.fixture
def shadow_traffic(aws, prediction_log, model, event, applications):
    """600 applications scored by the champion, shadowed by a challenger; outcomes for 400 of them."""
    challenger = challenger_of(model, version="chall-1", power=0.7)
    settings = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url})
    service = build_predict(settings, AwsClients(), model=model, challenger=challenger)
    batch = copy.deepcopy(event("predict-batch-valid.json"))
    batch["body"] = json.dumps({"applications": applications, "explain": True})
    status, body, _ = call(service, batch)
    assert status == 200
    ids = [p["prediction_id"] for p in body["predictions"]]
    # Outcomes drawn from the challenger's P(good): it is the better model on them.
    rng = np.random.default_rng(0)
    p = challenger.predict_good(applications)
    observed = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    outcomes = [
        {"prediction_id": pid, "outcome": "good" if rng.random() < q else "bad", "observed_at": observed}
        for pid, q in zip(ids[:400], p[:400], strict=True)
    ]
    posted = copy.deepcopy(event("outcomes-valid.json"))
    posted["body"] = json.dumps({"outcomes": outcomes})
    status, answer, _ = call(service, posted)
    assert status == 200 and answer["counts"]["recorded"] == 400
    return challenger, ids


def compare_service(aws, sqs, **overrides):
    queue = sqs.get_queue_url(QueueName=aws.physical_name("NotificationsQueue"))["QueueUrl"]
    settings = CompareSettings().model_copy(
        update={
            "analytics_engine": "dynamodb",
            "notifications_queue_url": queue,
            "resamples": 200,
            "min_shadow_rows": 100,
            "min_labelled_rows": 100,
            "max_approval_change": 0.5,
            **overrides,
        }
    )
    return build_compare(settings, AwsClients()), queue


def test_the_job_compares_the_shadowed_window_and_publishes_report_evidence_history_and_a_note(
    aws, sqs, s3, model, shadow_traffic
):
    _, ids = shadow_traffic
    service, queue = compare_service(aws, sqs)
    now = datetime.now(UTC)
    answer = service.handle(
        {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
    )
    assert answer["status"] == "ok", answer["message"]
    swaps = answer["swap_set"]
    assert sum(swaps.values()) == len(ids) == answer["figures"]["shadow_rows"]
    assert answer["champion_version"] == model.version and answer["challenger_version"] == "chall-1"
    assert set(answer["approval_rate"]) == {"champion", "challenger"}
    assert answer["figures"]["realized"]["rows"] == 400
    assert answer["verdict"] in ("promote", "hold", "reject")

    # The report: our page, the verdict first.
    html = s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=answer["report_html_key"])["Body"].read().decode()
    assert html.index('id="creditwatch-comparison-verdict"') < html.index('id="creditwatch-comparison-swap"')
    assert f"{swaps['challenger_only']} (challenger only)" in html and "<svg" in html
    stored = json.loads(s3.get_object(Bucket=aws.ref("ReportsBucket"), Key=answer["summary_key"])["Body"].read())
    assert stored["verdict"] == answer["verdict"]

    # The evidence a promotion reads, where the registry's layout says.
    key = answer["evidence_key"]
    assert key.startswith("evidence/chall-1/") and key.endswith(f"-{answer['report_id']}.json")
    evidence = ComparisonEvidence.model_validate_json(
        s3.get_object(Bucket=aws.ref("ModelRegistryBucket"), Key=key)["Body"].read()
    )
    assert evidence.verdict == answer["verdict"] and evidence.shadow_rows == len(ids)
    assert evidence.labelled_rows == 400 and evidence.swap_set == swaps

    # The history lists it; the note carries the verdict.
    entries = HistoryStore(s3, aws.ref("ReportsBucket")).s3.list_objects_v2(
        Bucket=aws.ref("ReportsBucket"), Prefix="history/entries/"
    )["Contents"]
    assert any(answer["report_id"] in e["Key"] for e in entries)
    (message,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    note = parse_notification(message["Body"])
    assert isinstance(note, ComparisonReady) and note.verdict == answer["verdict"] and note.swap_set == swaps


def test_a_window_without_a_challenger_writes_nothing_and_says_so(aws, sqs, s3, handler, event):
    call(handler, event("predict-valid.json"))
    service, queue = compare_service(aws, sqs)
    answer = service.handle({"days": 1})
    assert answer["status"] == "no_data" and "no record of the window carries a challenger" in answer["message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=aws.ref("ModelRegistryBucket"))
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)


def test_the_event_files_parse_and_a_bad_event_is_refused(aws, sqs, event):
    service, _ = compare_service(aws, sqs)
    assert service.handle({"start": "2026-11-02T00:00:00Z"})["status"] == "invalid_event"
    assert service.handle({"days": 0})["status"] == "invalid_event"
    from creditwatch_compare.models import CompareEvent

    scheduled = CompareEvent.model_validate(event("compare-scheduled.json"))
    start, end = scheduled.window(28, datetime(2026, 11, 27, 15, 30, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 10, 30, 16, tzinfo=UTC), datetime(2026, 11, 27, 16, tzinfo=UTC))
    window = CompareEvent.model_validate(event("compare-window.json")).window(28)
    assert window == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
