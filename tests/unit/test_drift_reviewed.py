"""The drift job's decision fairness counts the final decision where a reviewer decided, and its report says so."""

from __future__ import annotations

import html as html_mod
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from labelled import review_decisions, seed_cohort
from test_lake import parts, server, stack  # noqa: F401 - the lake's moto server fixtures

from creditwatch.local.stack import boto_client
from creditwatch_analytics.groups import SEX
from creditwatch_common.log.reviews import ReviewStore
from creditwatch_common.records import LogRecord


def refused_woman(record: LogRecord) -> bool:
    """The applications the test refers to a reviewer: refused women."""
    return record.decision == "refuse" and SEX[record.features["personal_status_and_sex"]] == "female"


def approvals_by_sex(records: list[LogRecord], final: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(rows, approvals) per sex, a reviewer's decision replacing the model's where one decided."""
    out: dict[str, list[int]] = {}
    for r in records:
        tally = out.setdefault(SEX[r.features["personal_status_and_sex"]], [0, 0])
        tally[0] += 1
        tally[1] += final.get(r.prediction_id, r.decision) == "approve"
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_reviewers_decisions_replace_the_models_in_decision_fairness_on_every_engine_and_the_report_says_so(
    parts: Any,  # noqa: F811
    stack: Any,  # noqa: F811
    server: str,  # noqa: F811
    model: Any,
) -> None:
    from creditwatch_analytics.lake.window import AutoWindow
    from creditwatch_common.reports import Publisher
    from creditwatch_drift.models import DriftEvent
    from creditwatch_drift.service import DriftJob, load_reference
    from creditwatch_drift.settings import DriftSettings

    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    log = parts.log
    records = seed_cohort(
        log,
        log.dynamodb,
        log.table,
        log.shards,
        model,
        n=300,
        start=start,
        end=start + timedelta(hours=1),
        coverage=0.0,
        seed=5,
        referred=refused_woman,
    )
    referred = [r for r in records if r.referral]
    assert len(referred) >= 12
    # Reviewers approve most referred women the model refused; the last four wait in the queue.
    decided, pending = referred[:-4], referred[-4:]
    final = {r.prediction_id: "approve" for r in decided[:-2]} | {r.prediction_id: "refuse" for r in decided[-2:]}
    store = ReviewStore(
        dynamodb=parts.log.dynamodb,
        table=stack.ref("ReviewCasesTable"),
        log_table=parts.log.table,
        shards=parts.log.shards,
    )
    review_decisions(store, records, final)
    parts.exporter.export(3, now + timedelta(hours=1))
    want = approvals_by_sex(records, final)
    model_only = approvals_by_sex(records, {})
    assert want["female"][1] == model_only["female"][1] + len(decided) - 2  # the reviewers' approvals count

    settings = DriftSettings().model_copy(update={"min_rows": 50})
    publisher = Publisher(s3=boto_client("s3", server), bucket=stack.ref("ReportsBucket"), signer=None)
    event = DriftEvent(start=start, end=start + timedelta(hours=2), notify=False)
    reference = load_reference(model)
    summaries = {}
    for name, window in (
        ("dynamodb", parts.dynamo),
        ("lake", parts.lake),
        ("auto", AutoWindow(parts.dynamo, parts.lake)),
    ):
        summaries[name] = DriftJob(settings, model, reference, parts.log, publisher, window=window).run(event)
    for name, s in summaries.items():
        assert s.status == "ok", (name, s.message)
        assert (s.referred_rows, s.reviewed_rows, s.overridden_rows, s.pending_rows) == (
            len(referred),
            len(decided),
            len(decided) - 2,
            len(pending),
        ), name
        assert s.fairness is not None
        groups = {g.group: g for g in s.fairness.attribute("sex").current.groups}
        got = {k: (g.count, round(g.approval_rate * g.count)) for k, g in groups.items()}
        assert got == want, name
    assert summaries["dynamodb"].fairness == summaries["lake"].fairness == summaries["auto"].fairness
    # The report says whose decisions its fairness figures are, and how the pending cases count.
    s = summaries["dynamodb"]
    html = publisher.s3.get_object(Bucket=publisher.bucket, Key=s.report_html_key)["Body"].read().decode()
    said = re.search(r'<p id="creditwatch-fairness-decisions">(.*?)</p>', html, re.S)
    assert said is not None
    text = html_mod.unescape(" ".join(said.group(1).split()))
    assert text.startswith("Approvals are the final decisions:")
    assert f"{len(decided)} of {s.rows_read} decisions were a reviewer's ({len(decided) - 2} against the model)" in text
    assert "4 referred cases are still pending: counted with the model's decision until a reviewer decides" in text
