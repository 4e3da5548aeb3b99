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


def test_the_lake_and_the_table_give_the_same_cohort_and_auto_picks_the_lake_once_exported(
    parts: Any,  # noqa: F811
    model: Any,
) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    end = start + timedelta(hours=1)
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
    parts.log.write(records)
    writer = OutcomeWriter(dynamodb=parts.log.dynamodb, table=parts.log.table, shards=parts.log.shards)
    labelled = records[:90]  # 30 predictions without an outcome yet
    results = writer.record(
        [OutcomeInput(r.prediction_id, "good" if i % 4 else "bad", now) for i, r in enumerate(labelled)]
    )
    assert {r.status for r in results} == {"recorded"}
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
