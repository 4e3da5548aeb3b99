"""The quality job's cohort from the lake (predictions joined to their outcomes) equals the table's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from labelled import review_decisions
from test_lake import parts, server, stack  # noqa: F401 - the lake's moto server fixtures

from creditwatch_analytics.lake.labelled import sample_sql
from creditwatch_analytics.lake.sql import window_filter
from creditwatch_analytics.lake.window import LABELLED_COLUMNS, AutoWindow, LakeWindow, duckdb_connection
from creditwatch_analytics.sampling import sample_key, sample_mask
from creditwatch_common.ids import uuid7
from creditwatch_common.log.outcomes import OutcomeInput, OutcomeWriter
from creditwatch_common.outcomes import Outcome
from creditwatch_common.records import LogRecord
from creditwatch_quality.cohort import PROTECTED_COLUMNS, Population, cohort_of


def scored_hour(lake_parts: Any, model: Any, start: datetime, now: datetime) -> list[LogRecord]:
    """120 scored predictions in the hour from start, in the table; outcomes recorded on the first 90."""
    records = scored_records(model, start, 120, seed=1)
    lake_parts.log.write(records)
    writer = OutcomeWriter(dynamodb=lake_parts.log.dynamodb, table=lake_parts.log.table, shards=lake_parts.log.shards)
    labelled = records[:90]  # 30 predictions without an outcome yet
    results = writer.record(
        [OutcomeInput(r.prediction_id, "good" if i % 4 else "bad", now) for i, r in enumerate(labelled)]
    )
    assert {r.status for r in results} == {"recorded"}
    return records


def read(source: Any, start: datetime, end: datetime, threshold: float, max_rows: int = 500_000) -> tuple[Any, str]:
    """The quality job's read: an engine's labelled frame of the protected columns, as a cohort, and its engine."""
    labelled = source.labelled(start, end, list(PROTECTED_COLUMNS), max_rows)
    return cohort_of(labelled, threshold), labelled.engine


def test_the_lake_and_the_table_give_the_same_cohort_and_auto_picks_the_lake_once_exported(
    parts: Any,  # noqa: F811
    model: Any,
) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
    scored_hour(parts, model, start, now)
    auto = AutoWindow(parts.dynamo, parts.lake)
    assert read(auto, start, end, model.threshold)[1] == "dynamodb"  # nothing exported yet
    parts.exporter.export(3, now + timedelta(hours=1))
    from_table, engine_t = read(parts.dynamo, start, end, model.threshold)
    from_lake, engine_l = read(auto, start, end, model.threshold)
    assert (engine_t, engine_l) == ("dynamodb", "lake")
    assert from_lake.rows == from_table.rows == 120 and from_lake.labelled_rows == from_table.labelled_rows == 90

    def by_score(c: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.argsort(c.p_good)
        return c.p_good[order], c.outcome[order], c.approved[order]

    for a, b in zip(by_score(from_lake), by_score(from_table), strict=True):
        assert np.array_equal(a, b)
    sexes = sorted(from_lake.protected["personal_status_and_sex"].tolist())
    assert sexes == sorted(from_table.protected["personal_status_and_sex"].tolist())
    assert from_lake.model_versions == from_table.model_versions == {model.version: 120}


def test_reviewers_final_decisions_reach_the_cohort_alike_from_the_lake_and_the_table_a_correction_replacing(
    parts: Any,  # noqa: F811
    stack: Any,  # noqa: F811
    model: Any,
) -> None:
    from creditwatch_common.log.reviews import ReviewStore

    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
    records = scored_hour(parts, model, start, now)
    refused = [r for r in records if r.decision == "refuse"][:6]
    approved = [r for r in records if r.decision == "approve"][:4]
    store = ReviewStore(
        dynamodb=parts.log.dynamodb,
        table=stack.ref("ReviewCasesTable"),
        log_table=parts.log.table,
        shards=parts.log.shards,
    )
    review_decisions(store, records, {r.prediction_id: "approve" for r in refused + approved[:2]})
    review_decisions(store, records, {r.prediction_id: "refuse" for r in approved[2:]})
    # A correction: the first overridden refusal is refused after all (its latest decision counts).
    (case_id,) = _cases(store, refused[0].prediction_id)
    assert store.decide(case_id, "refuse", "data_error", "sam", correction=True).status == "corrected"
    parts.exporter.export(3, now + timedelta(hours=1))
    from_table, _ = read(parts.dynamo, start, end, model.threshold)
    from_lake, engine = read(parts.lake, start, end, model.threshold)
    assert engine == "lake"
    for cohort in (from_table, from_lake):
        assert (cohort.totals.reviewed_rows, cohort.totals.overridden_rows) == (10, 7)
        assert int(cohort.reviewed_mask.sum()) == 10
        assert int((cohort.approved & ~cohort.model_decisions).sum()) == 5
        assert int((~cohort.approved & cohort.model_decisions).sum()) == 2

    def by_score(c: Any) -> tuple[np.ndarray, ...]:
        order = np.argsort(c.p_good, kind="stable")
        return c.p_good[order], c.approved[order], c.model_decisions[order], c.reviewed_mask[order]

    for a, b in zip(by_score(from_lake), by_score(from_table), strict=True):
        assert np.array_equal(a, b)


def _cases(store: Any, prediction_id: str) -> list[str]:
    """The case ids of a prediction (a scan: the test's table is small)."""
    items = store.dynamodb.scan(TableName=store.table)["Items"]
    return [i["case_id"]["S"] for i in items if i["prediction_id"]["S"] == prediction_id]


def test_analytics_engine_athena_reads_the_cohort_from_the_lake_and_says_so(
    parts: Any,  # noqa: F811
    server: str,  # noqa: F811
    stack: Any,  # noqa: F811
    model: Any,
    monkeypatch: Any,
    capsys: Any,
    caplog: Any,
) -> None:
    # The template gives QualityFunction the drift job's AnalyticsEngine: athena must start the function,
    # and (no Athena reader here) read the lake with DuckDB in the function, whatever the table holds.
    import boto3

    from creditwatch_common.aws import AwsClients
    from creditwatch_quality.app import build, engine_note
    from creditwatch_quality.models import QualityEvent
    from creditwatch_quality.settings import QualitySettings

    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
    scored_hour(parts, model, start, now)
    parts.exporter.export(3, now + timedelta(hours=1))
    empty_table(parts)  # the lake alone holds the cohort now: reading the table would find nothing
    for name, value in {
        "ANALYTICS_ENGINE": "athena",
        "LAKE_BUCKET": parts.bucket,
        "REPORTS_BUCKET": stack.ref("ReportsBucket"),
        "PREDICTIONS_TABLE": parts.log.table,
        "LOG_SHARDS": str(parts.log.shards),
        "QUALITY_BOOTSTRAP_RESAMPLES": "200",
        "AWS_ENDPOINT_URL_S3": server,  # pyarrow's S3 client (the lake) finds the moto server here
    }.items():
        monkeypatch.setenv(name, value)
    settings = QualitySettings()
    assert settings.analytics_engine == "athena"
    note = engine_note(settings)
    assert note is not None and "lake" in note and "DuckDB" in note
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    def times_logged() -> int:
        # The function's logger prints to stdout, and may also propagate to pytest's capture (test order).
        out = capsys.readouterr()
        times = max((out.out + out.err).count(note), caplog.text.count(note))
        caplog.clear()
        return times

    times_logged()
    service = build(settings, AwsClients(session=session, endpoint_url=server), model=model)
    assert times_logged() == 1  # logged once, at init
    assert isinstance(service.job.source, LakeWindow)
    for _ in range(2):
        summary = service.job.run(QualityEvent(start=start, end=end, notify=False))
        assert summary.engine == "lake" and summary.rows == 120 and summary.labelled_rows == 90
        assert note in summary.warnings and summary.verdict == "insufficient_labels"
    assert times_logged() == 0  # not logged again by the runs


def empty_table(lake_parts: Any) -> None:
    """Delete every item of the prediction log's table."""
    ddb, table = lake_parts.log.dynamodb, lake_parts.log.table
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            ddb.delete_item(TableName=table, Key=item)


def scored_records(model: Any, start: datetime, n: int, seed: int) -> list[LogRecord]:
    """n scored predictions within the hour from start."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.2, 0.95, size=n)
    return [
        LogRecord(
            prediction_id=uuid7(int((start + timedelta(seconds=20 * i + 1)).timestamp() * 1000)),
            request_id=uuid7(),
            route="/predict",
            status=200,
            latency_ms=1.0,
            model_version=model.version,
            features={"personal_status_and_sex": "A92" if i % 3 else "A93", "age_in_years": 20 + i % 40},
            probability_good_credit=float(p[i]),
            decision="approve" if p[i] >= model.threshold else "refuse",
        )
        for i in range(n)
    ]


def test_over_max_rows_the_lake_and_the_table_keep_the_same_bottom_k_ids_and_count_the_whole_cohort_as_pandas_does(
    parts: Any,  # noqa: F811
    model: Any,
) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
    records = scored_records(model, start, 150, seed=2)
    parts.log.write(records)
    labelled = records[:110]  # 40 predictions without an outcome yet
    first: dict[str, Outcome] = {r.prediction_id: "good" if i % 4 else "bad" for i, r in enumerate(labelled)}
    writer = OutcomeWriter(
        dynamodb=parts.log.dynamodb, table=parts.log.table, shards=parts.log.shards, sleep=lambda _s: None
    )
    assert {r.status for r in writer.record([OutcomeInput(pid, v, now) for pid, v in first.items()])} == {"recorded"}
    # Corrections: the latest outcome is the one that counts, in the totals and in the sample.
    corrected: dict[str, Outcome] = {pid: ("bad" if v == "good" else "good") for pid, v in list(first.items())[:12]}
    statuses = {r.status for r in writer.record([OutcomeInput(pid, v, now, True) for pid, v in corrected.items()])}
    assert statuses == {"corrected"}
    parts.exporter.export(3, now + timedelta(hours=1))

    latest = {**first, **corrected}
    frame = pd.DataFrame({"prediction_id": [r.prediction_id for r in records]})
    frame["outcome"] = frame["prediction_id"].map(latest)
    expected = (len(frame), int(frame["outcome"].notna().sum()), int((frame["outcome"] == "bad").sum()))
    mask = sample_mask(0)
    bottom = sorted(frame["prediction_id"], key=lambda pid: (sample_key(pid, mask), pid))[:50]

    lake = parts.lake.labelled(start, end, list(PROTECTED_COLUMNS), max_rows=50)
    assert lake.sampled and lake.table.num_rows == 50
    assert lake.table.column("prediction_id").to_pylist() == sorted(bottom)
    assert (lake.rows, lake.labelled_rows, lake.bad_rows) == expected == (150, 110, expected[2])
    assert lake.table.column_names[: len(LABELLED_COLUMNS)] == list(LABELLED_COLUMNS)
    outcomes = {r["prediction_id"]: r["outcome"] for r in lake.table.to_pylist()}
    assert outcomes == {pid: latest.get(pid) for pid in bottom}

    from_lake, engine_l = read(parts.lake, start, end, model.threshold, max_rows=50)
    from_table, engine_t = read(parts.dynamo, start, end, model.threshold, max_rows=50)
    assert (engine_l, engine_t) == ("lake", "dynamodb")
    for cohort in (from_lake, from_table):
        assert cohort.sampled and cohort.rows == 50
        assert cohort.totals == Population(*expected)
        assert cohort.model_versions == {model.version: 150}
    # Both in id order: the same rows, scores, outcomes and groups.
    by_id = {r.prediction_id: r for r in records}
    assert np.array_equal(from_lake.p_good, np.array([by_id[pid].probability_good_credit for pid in sorted(bottom)]))
    for a, b in ((from_lake.p_good, from_table.p_good), (from_lake.outcome, from_table.outcome)):
        assert np.array_equal(a, b)
    assert from_lake.protected.equals(from_table.protected)

    # At or over the cohort's size nothing is sampled: every row, the same totals.
    whole = parts.lake.labelled(start, end, list(PROTECTED_COLUMNS), max_rows=150)
    assert not whole.sampled and whole.table.num_rows == 150 and (whole.rows, whole.labelled_rows) == (150, 110)
    assert not read(parts.dynamo, start, end, model.threshold, max_rows=150)[0].sampled


def test_the_latest_outcome_and_review_steps_see_only_the_sampled_ids_events() -> None:
    con = duckdb_connection()
    con.execute(
        "CREATE TABLE predictions AS SELECT uuid()::VARCHAR AS prediction_id, i::BIGINT AS sample_key, "
        "0.5 AS probability_good_credit, 1 AS prediction, 'approve' AS decision, 'v1' AS model_version, "
        "NULL::VARCHAR AS challenger_version, NULL::DOUBLE AS challenger_probability_good_credit, "
        "NULL::VARCHAR AS challenger_decision, "
        "TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i) AS ts FROM range(5000) t(i)"
    )
    # Two events per prediction (an outcome and its correction; a decision and its correction).
    con.execute(
        "CREATE TABLE outcome_events AS SELECT prediction_id, o AS outcome, ts AS observed_at, "
        "ts + to_seconds(n) AS recorded_at FROM predictions, (VALUES ('good', 1), ('bad', 2)) v(o, n)"
    )
    con.execute(
        "CREATE TABLE review_events AS SELECT prediction_id, d AS decision, d <> 'approve' AS override, "
        "ts + to_seconds(n) AS decided_at FROM predictions, (VALUES ('approve', 1), ('refuse', 2)) v(d, n)"
    )
    where = window_filter(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), partitions=False)
    sql = sample_sql(where, [], 50, 0, sampled=True)
    plan = json.loads(con.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).fetchall()[0][1])

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("children", []) for n in nodes(child))]

    def info(node: dict[str, Any]) -> str:
        return json.dumps(node.get("extra_info", {}))

    def rows_out(node: dict[str, Any]) -> int:
        return int(node.get("operator_cardinality", node.get("intermediate_rows", -1)))

    everything = [n for root in plan["operator"] for n in nodes(root)]
    # The latest-per-id steps: the window function, or the arg_max aggregate DuckDB rewrites row_number() = 1 into.
    steps = [n for n in everything if n.get("name") == "WINDOW" or "arg_max" in info(n)]
    for events in ("outcome_events", "review_events"):
        (latest,) = [n for n in steps if any(events in info(m) for m in nodes(n))]
        semi = [n for n in nodes(latest)[1:] if '"SEMI"' in info(n)]
        assert semi, f"the {events} are not semi-joined to the sample below the latest-per-id step"
        assert any(events in info(n) for n in nodes(semi[0]))
        # It sees the sampled ids' 100 events (the semi join's output), not the lake's 10,000.
        assert rows_out(semi[0]) == 100
        assert sum(rows_out(c) for c in latest["children"]) == 100
    result = con.execute(sql)
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    assert len(rows) == 50 and {r[names.index("outcome")] for r in rows} == {"bad"}
    assert {r[names.index("final_decision")] for r in rows} == {"refuse"}
