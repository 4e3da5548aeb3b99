"""The quality job's cohort from the lake (predictions joined to their outcomes) equals the table's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from test_lake import parts, server, stack  # noqa: F401 - the lake's moto server fixtures

from creditwatch_common.ids import uuid7
from creditwatch_common.log.outcomes import OutcomeInput, OutcomeWriter
from creditwatch_common.records import LogRecord
from creditwatch_drift.quality.cohort import AutoCohorts, LakeCohorts, TableCohorts


def scored_hour(lake_parts: Any, model: Any, start: datetime, now: datetime) -> list[LogRecord]:
    """120 scored predictions in the hour from start, in the table; outcomes recorded on the first 90."""
    rng = np.random.default_rng(1)
    p = rng.uniform(0.2, 0.95, size=120)
    records = [
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
        for i in range(120)
    ]
    lake_parts.log.write(records)
    writer = OutcomeWriter(dynamodb=lake_parts.log.dynamodb, table=lake_parts.log.table, shards=lake_parts.log.shards)
    labelled = records[:90]  # 30 predictions without an outcome yet
    results = writer.record(
        [OutcomeInput(r.prediction_id, "good" if i % 4 else "bad", now) for i, r in enumerate(labelled)]
    )
    assert {r.status for r in results} == {"recorded"}
    return records


def test_the_lake_and_the_table_give_the_same_cohort_and_auto_picks_the_lake_once_exported(
    parts: Any,  # noqa: F811
    model: Any,
) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
    scored_hour(parts, model, start, now)
    table = TableCohorts(parts.log)
    auto = AutoCohorts(table, LakeCohorts(parts.lake))
    assert auto.read(start, end, model.threshold)[1] == "dynamodb"  # nothing exported yet
    parts.exporter.export(3, now + timedelta(hours=1))
    from_table, engine_t = table.read(start, end, model.threshold)
    from_lake, engine_l = auto.read(start, end, model.threshold)
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


def test_analytics_engine_athena_reads_the_cohort_from_the_lake_and_says_so(
    parts: Any,  # noqa: F811
    server: str,  # noqa: F811
    stack: Any,  # noqa: F811
    model: Any,
    monkeypatch: Any,
    capsys: Any,
) -> None:
    # The template gives QualityFunction the drift job's AnalyticsEngine: athena must start the function,
    # and (no Athena reader here) read the lake with DuckDB in the function, whatever the table holds.
    import boto3

    from creditwatch_common.aws import AwsClients
    from creditwatch_drift.quality.app import build, engine_note
    from creditwatch_drift.quality.models import QualityEvent
    from creditwatch_drift.quality.settings import QualitySettings

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
    capsys.readouterr()
    service = build(settings, AwsClients(session=session, endpoint_url=server), model=model)
    assert capsys.readouterr().out.count(note) == 1  # logged once, at init
    assert isinstance(service.job.source, LakeCohorts)
    for _ in range(2):
        summary = service.job.run(QualityEvent(start=start, end=end, notify=False))
        assert summary.engine == "lake" and summary.rows == 120 and summary.labelled_rows == 90
        assert note in summary.warnings and summary.verdict == "insufficient_labels"
    assert note not in capsys.readouterr().out  # not logged again by the runs


def empty_table(lake_parts: Any) -> None:
    """Delete every item of the prediction log's table."""
    ddb, table = lake_parts.log.dynamodb, lake_parts.log.table
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            ddb.delete_item(TableName=table, Key=item)
