"""Review decisions in the lake, as `creditwatch lake query` reads them: every event, and the latest per prediction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from labelled import review_decisions
from test_lake import parts, records_at, server, stack  # noqa: F401 - the lake's moto server fixtures

from creditwatch.lake import save, saved_window
from creditwatch_common.log.reviews import ReviewStore


def decided(parts: Any, stack: Any, model: Any) -> tuple[list[Any], str]:  # noqa: F811
    """Four referred predictions decided by a reviewer (two against the model), the first corrected; exported."""
    now = datetime.now(UTC)
    records = records_at(model, now - timedelta(minutes=5), 10)
    parts.log.write(records)
    store = ReviewStore(
        dynamodb=parts.log.dynamodb,
        table=stack.ref("ReviewCasesTable"),
        log_table=parts.log.table,
        shards=parts.log.shards,
    )
    flip = {"approve": "refuse", "refuse": "approve"}
    review_decisions(store, records, {r.prediction_id: r.decision for r in records[:2]})
    review_decisions(store, records, {r.prediction_id: flip[r.decision] for r in records[2:4]})
    items = store.dynamodb.scan(TableName=store.table)["Items"]
    (case_id,) = [i["case_id"]["S"] for i in items if i["prediction_id"]["S"] == records[0].prediction_id]
    assert store.decide(case_id, flip[records[0].decision], "data_error", "sam", correction=True).status == "corrected"
    parts.exporter.export(3, now + timedelta(hours=1))
    return records, flip[records[0].decision]


def test_lake_query_reads_every_review_event_and_the_latest_decision_per_prediction(
    parts: Any,  # noqa: F811
    stack: Any,  # noqa: F811
    model: Any,
) -> None:
    records, corrected = decided(parts, stack, model)
    _, events = parts.lake.query("SELECT prediction_id, correction FROM review_events ORDER BY decided_at")
    assert len(events) == 5 and [c for _, c in events].count(True) == 1
    names, latest = parts.lake.query(
        "SELECT p.prediction_id, r.decision, r.override, r.decided_by FROM predictions p "
        "JOIN reviews r USING (prediction_id) ORDER BY p.prediction_id"
    )
    assert names == ["prediction_id", "decision", "override", "decided_by"]
    assert [row[0] for row in latest] == sorted(r.prediction_id for r in records[:4])
    by_id = {row[0]: row[1:] for row in latest}
    assert by_id[records[0].prediction_id] == (corrected, True, "sam")
    assert by_id[records[1].prediction_id] == (records[1].decision, False, "rita")
    assert sum(override for _, _, override, _ in latest) == 3


def test_the_lake_a_stopped_stack_leaves_behind_keeps_its_review_events(
    parts: Any,  # noqa: F811
    stack: Any,  # noqa: F811
    server: str,  # noqa: F811
    model: Any,
    tmp_path: Path,
) -> None:
    decided(parts, stack, model)
    save(server, tmp_path)
    lake = saved_window(tmp_path)
    assert lake is not None
    _, rows = lake.query("SELECT count(*), count(DISTINCT prediction_id) FROM review_events")
    assert rows == [(5, 4)]
