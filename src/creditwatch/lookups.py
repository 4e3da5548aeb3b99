"""Finding records of the prediction log by prediction id or by request id."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from creditwatch_common.ids import uuid7_millis
from creditwatch_common.records import FullRow

# A request's records are stamped while it runs: after its id (when the id is time-ordered) and
# within the function's timeout (29 s); the margins cover clocks of different machines.
BEFORE = timedelta(minutes=1)
AFTER = timedelta(minutes=2)
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class LookupProblem(Exception):
    """The id or window cannot be searched as given."""


def parse_duration(text: str) -> timedelta:
    """`30m`, `1h`, `2d`, `90s` (or a sum such as `1h30m`) as a timedelta."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or _DURATION.sub("", text.strip().lower()).strip():
        raise LookupProblem(f"{text!r} is not a duration: write it as 90s, 30m, 1h or 2d")
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), start=timedelta())


def millis_of(value: str) -> int | None:
    """The time of a UUIDv7 (ms), or None when the id is not one."""
    try:
        return uuid7_millis(value)
    except ValueError:
        return None


def find(log: Any, record_id: str, last: timedelta | None = None) -> Any:
    """The record (a dict) of a prediction id, or the records (a list) of a request id; None when absent.

    `log` is a `creditwatch_common.log.LogReader`.
    """
    ms = millis_of(record_id)
    if ms is not None:
        record = log.get(record_id)
        if record is not None:
            return record.model_dump(mode="json", exclude_none=True)
        at = datetime.fromtimestamp(ms / 1000, tz=UTC)
        start, end = at - BEFORE, at + AFTER
    elif last is not None:
        end = datetime.now(UTC) + timedelta(seconds=1)
        start = end - last
    else:
        raise LookupProblem(
            f"{record_id} is not a prediction id, and as a request id it carries no time (not a UUIDv7, "
            "as API Gateway's are not): search a window for it with --last, e.g. --last 1h"
        )
    rows = [r for r in log.query_window(start, end, FullRow, include_synthetic=True) if r.request_id == record_id]
    if not rows:
        return None
    rows.sort(key=lambda r: (r.batch_index if r.batch_index is not None else -1, r.sk))
    return [r.model_dump(mode="json", exclude_none=True) for r in rows]


# Where a record can still be after its item is deleted (docs/operate.md, "Personal data").
ALSO_HELD = (
    "SpillQueue: a record DynamoDB refused waits there up to 14 days; `creditwatch replay-spill` first, then "
    "erase again, or it comes back",
    "CloudWatch Logs (the predict function's group): a record neither DynamoDB nor SQS took is logged whole "
    "as `prediction log record kept in logs only`, kept LogRetentionDays; find it with Logs Insights "
    "(filter log_record.prediction_id.S = '<id>') and delete the log stream or let it expire",
    "IdempotencyTable: the answer of a request sent with an Idempotency-Key is kept IdempotencyWindowHours; "
    "`creditwatch log erase` deletes the one the record names (idempotency_pk), not the answer of a POST /outcomes "
    "that named the prediction id (its outcomes), nor one whose record was still in the SpillQueue",
    "drift reports (ReportsBucket): per-feature distributions of a window, no record by id; kept ReportRetentionDays",
    "the lake (LakeBucket): `creditwatch log erase` rewrites the record's hour under predictions/, the hours "
    "of its outcome events under outcomes/ and of its review decisions under reviews/ "
    "without them (deployed stack: with --lake-bucket, the LakeBucketName "
    "output), also after the table's TTL removed the record; the versions those rewrites replaced stay as "
    "noncurrent versions until they expire 7 days later (bucket versioning, noncurrent expiry); with Object Lock "
    "on (LakeObjectLockDays > 0) a locked version cannot be deleted by anyone and stays until its retention ends; "
    "Athena results under athena-results/ that returned the record expire after 7 days",
    "any export of the table you made yourself",
)


def erase(
    log: Any, prediction_id: str, lake_s3: Any = None, lake_bucket: str | None = None, review_table: str | None = None
) -> dict[str, Any]:
    """Delete one prediction's record, its lake rows and its request's kept answer; say what each store held.

    `stores` names every table and bucket of the stack: what erase did there, or why it leaves it; the
    places that are not stores of the stack are in `may_also_be_held_in`. `log` is a
    `creditwatch_common.log.LogReader`; `lake_s3` and `lake_bucket` the lake's S3 client and bucket (None:
    the lake is not rewritten); `review_table` the review queue (None: its case is not looked for). ValueError
    if the id is not a prediction id.
    """
    from creditwatch_common.log.erase import erase_idempotent_answer, erase_review_case, not_reached
    from creditwatch_common.log.keys import key_attributes, keys_for

    key = key_attributes(keys_for(prediction_id, log.shards))
    old = log.dynamodb.delete_item(TableName=log.table, Key=key, ReturnValues="ALL_OLD").get("Attributes")
    erased: dict[str, Any] = {"prediction_id": prediction_id, "erased": old is not None}
    recorded: list[str] = []
    if old is not None:
        erased.update({k: next(iter(old[k].values())) for k in ("request_id", "kind", "ts") if k in old})
        # Its outcome events, keyed by the times they were recorded: the current one and each corrected.
        recorded = [old["outcome_recorded_at"]["S"]] if "outcome_recorded_at" in old else []
        recorded += [h["M"]["recorded_at"]["S"] for h in old.get("outcome_history", {}).get("L", [])]
        recorded = [at for at in recorded if at]
        erased["outcome_events_erased"] = sum(_erase_outcome_event(log, prediction_id, at) for at in recorded)
    # Its review case and decision events (the record names the case); their times find the lake's objects.
    review, decided = erase_review_case(log.dynamodb, old, review_table, log.table, log.shards)
    if lake_bucket is None:
        erased["lake"] = {
            "rewritten": False,
            "why": "no lake bucket given (deployed stack: --lake-bucket, the LakeBucketName output)",
        }
    else:
        erased["lake"] = _erase_from_lake(
            log, prediction_id, lake_s3, lake_bucket, None if old is None else recorded, decided
        )
        if old is None:
            erased["outcome_events_erased"] = erased["lake"].pop("table_outcome_events_erased")
    idempotency = erase_idempotent_answer(log.dynamodb, old)
    # Every table and bucket of the stack: what erase did there, or why it did not go there.
    erased["stores"] = {
        "PredictionsTable": {"reached": True, "table": log.table, "erased": old is not None},
        "IdempotencyTable": idempotency,
        "LakeBucket": {"reached": erased["lake"]["rewritten"], **erased["lake"]},
        "ReviewCasesTable": review,
        **not_reached(),
    }
    erased["may_also_be_held_in"] = list(ALSO_HELD)
    return erased


def _erase_from_lake(
    log: Any, prediction_id: str, s3: Any, bucket: str, recorded: list[str] | None, decided: list[str]
) -> dict[str, Any]:
    """Rewrite the lake's objects that hold the id; recorded None: the table no longer knew its outcomes."""
    from creditwatch_analytics.lake.erase import erase_from_lake
    from creditwatch_analytics.lake.schema import LakeError

    found_by = (
        "the recorded times of the table item (outcome_recorded_at, outcome_history)"
        if recorded is not None
        else "a scan of every object under outcomes/: the table no longer holds the record (past its TTL, or "
        "erased before), so the hours its outcomes were recorded in are not known"
    )
    done: dict[str, Any] = {"bucket": bucket, "rewritten": False, "outcomes_found_by": found_by}
    try:
        result = erase_from_lake(
            s3,
            bucket,
            [prediction_id],
            outcome_recorded_at=recorded or (),
            scan_outcomes=recorded is None,
            review_decided_at=decided,
        )
    except LakeError as exc:
        done["error"] = str(exc)
        if recorded is None:
            done["table_outcome_events_erased"] = 0
        return done
    done.update(
        rewritten=True,
        rows_removed=result.rows_removed,
        objects=[o.model_dump(exclude={"removed_recorded_at"}) for o in result.objects],
        objects_read=result.objects_read,
    )
    if recorded is None:
        # The events the lake held may outlive the record in the table (their own TTL runs from when they
        # were recorded): delete them there too.
        times = {at for o in result.objects for at in o.removed_recorded_at}
        done["table_outcome_events_erased"] = sum(_erase_outcome_event(log, prediction_id, at) for at in sorted(times))
    return done


def _erase_outcome_event(log: Any, prediction_id: str, recorded_at: str) -> int:
    """Delete the outcome event of one recorded time; 1 if there was one."""
    from creditwatch_common.log.keys import key_attributes
    from creditwatch_common.outcomes import outcome_event_keys

    ms = round(datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).timestamp() * 1000)
    key = key_attributes(outcome_event_keys(prediction_id, ms, log.shards))
    old = log.dynamodb.delete_item(TableName=log.table, Key=key, ReturnValues="ALL_OLD").get("Attributes")
    return 1 if old else 0
