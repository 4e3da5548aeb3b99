"""Erasing one applicant: the copies of a prediction record that erase reaches, and why it leaves the others."""

from __future__ import annotations

from typing import Any

from creditwatch_common.idempotency import IdempotencyStore

# Every table and bucket of template.yaml that erase does not rewrite, and why (tests/unit/test_erase_stores.py
# checks that each of the template's tables and buckets is reached by erase or named here).
NOT_REACHED: dict[str, str] = {
    "AlertStateTable": "alert states and notification keys of the alerts function: no prediction record, "
    "no applicant's value",
    "ReportsBucket": "drift reports: per-feature distributions of a window, no record by id; kept ReportRetentionDays",
    "ReportsAccessLogsBucket": "S3 server access logs of the reports and lake buckets: which object (an hour's "
    "key, a report's) was read by whom, never an object's content; kept AccessLogRetentionDays",
    "AthenaResultsBucket": "what a lake query returned (the record included, if a query selected it): expires 7 "
    "days after the query; not rewritten",
    "ModelRegistryBucket": "model versions: forests, cards and comparison evidence; a card lists the prediction "
    "ids a version was trained on, never their values; a training set built later leaves erased records out",
}


def erase_idempotent_answer(dynamodb: Any, record: dict[str, Any] | None) -> dict[str, Any]:
    """Delete the idempotency item keeping the answer of the record's request (its decision and reasons).

    `record` is the deleted log item (DynamoDB attributes), None when the table no longer held it. The
    item holds the answer of the whole request: for a batch, the other applicants' answers go with it
    (a retry with the same key is then scored again, as after the window).
    """
    if record is None:
        return {
            "reached": False,
            "why": "the record is gone, and with it where its request's answer was kept; an answer is kept "
            "IdempotencyWindowHours (24 h by default), far less than the record's PredictionTtlDays",
        }
    if "idempotency_pk" not in record or "idempotency_table" not in record:
        return {"reached": True, "items_deleted": 0, "why": "the request sent no Idempotency-Key: no answer kept"}
    store = IdempotencyStore(dynamodb=dynamodb, table=record["idempotency_table"]["S"])
    deleted = store.forget(record["idempotency_pk"]["S"])
    return {"reached": True, "table": store.table, "items_deleted": deleted}


def not_reached() -> dict[str, dict[str, Any]]:
    """The template's stores erase leaves alone, each with why."""
    return {name: {"reached": False, "why": why} for name, why in NOT_REACHED.items()}


def erase_review_case(
    dynamodb: Any, record: dict[str, Any] | None, review_table: str | None, log_table: str, shards: int
) -> tuple[dict[str, Any], list[str]]:
    """Delete the record's review case and its review events; what was done, and when its decisions were made.

    `record` is the deleted log item (None when the table no longer held it): it names the case (`case_id`).
    The decision times find the lake's objects of its review events (creditwatch_analytics/lake/reviews.py).
    """
    from creditwatch_common.log.keys import key_attributes
    from creditwatch_common.log.reviews import _millis, case_of
    from creditwatch_common.review import review_event_keys

    if review_table is None:
        why = "no review table given (deployed stack: --review-table, the ReviewCasesTableName output)"
        return {"reached": False, "why": why}, []
    if record is None:
        why = "the record is gone, and with it which case was its; a case expires with the log (PredictionTtlDays)"
        return {"reached": False, "table": review_table, "why": why}, []
    if "case_id" not in record:
        return {
            "reached": True,
            "table": review_table,
            "items_deleted": 0,
            "why": "the application was not referred",
        }, []
    old = dynamodb.delete_item(TableName=review_table, Key={"case_id": record["case_id"]}, ReturnValues="ALL_OLD").get(
        "Attributes"
    )
    decided: list[str] = []
    if old:
        case = case_of(old)
        decided = [t for t in [case.decided_at, *(str(h.get("decided_at") or "") for h in case.history)] if t]
    events = 0
    for at in decided:
        key = key_attributes(review_event_keys(case.prediction_id, _millis(at), shards))
        events += (
            1 if dynamodb.delete_item(TableName=log_table, Key=key, ReturnValues="ALL_OLD").get("Attributes") else 0
        )
    done = {"reached": True, "table": review_table, "items_deleted": 1 if old else 0, "review_events_erased": events}
    return done, decided
