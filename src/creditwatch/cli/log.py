"""The prediction log: `log get|erase|tail`, and `replay-spill`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render

log_app = common.sub_app("Read (and erase from) the prediction log.")

# How far back `log get` looks for a request id that carries no time, unless --last says otherwise.
DEFAULT_LAST = "24h"


@log_app.command("get")
def log_get(
    record_id: Annotated[str, typer.Argument(help="A prediction id, or a request id (a batch's lists its items)")],
    last: Annotated[
        str | None,
        typer.Option(
            help=f"How far back to search for a request id that is not time-ordered [default: {DEFAULT_LAST}]"
        ),
    ] = None,
) -> None:
    """Print a record by prediction id (a JSON object), or every record of a request id (a JSON array)."""
    from creditwatch import lookups

    log = common.prediction_log()
    # Said once: on stderr beside a result, or in the error line when nothing is found.
    searched = ""
    if last is None and lookups.millis_of(record_id) is None:
        searched = f" (searched the last {DEFAULT_LAST}: --last widens it)"
    try:
        found = lookups.find(log, record_id, lookups.parse_duration(last or DEFAULT_LAST))
    except lookups.LookupProblem as exc:
        common.fail(str(exc), errors.USAGE)
    if found is None:
        common.fail(f"no record with prediction id or request id {record_id} in the local stack's log{searched}")
    if searched:
        typer.echo(f"searched the last {DEFAULT_LAST}; --last widens it", err=True)
    common.print_json(found)


@log_app.command("erase")
def log_erase(
    prediction_id: Annotated[str, typer.Argument(help="The prediction id of the applicant's record")],
    table: Annotated[
        str | None, typer.Option(help="Deployed stack: the PredictionsTableName output (default: the local stack)")
    ] = None,
    shards: common.DeployedShards = 16,
    lake_bucket: Annotated[
        str | None,
        typer.Option(
            help="Deployed stack: the LakeBucketName output, whose objects holding the record are rewritten "
            "without it (default: the local stack's lake; with --table and no --lake-bucket the lake is not touched)"
        ),
    ] = None,
    review_table: Annotated[
        str | None,
        typer.Option(help="Deployed stack: the ReviewCasesTableName output (default: the local stack's review queue)"),
    ] = None,
) -> None:
    """Delete one applicant's record from the log and the lake; print what was deleted and what else may hold it.

    The record's hour in the lake (and the hours of its outcome events) is rewritten even when the table
    no longer holds the record (after its TTL): its outcomes are then found by reading every object under
    outcomes/.
    """
    from creditwatch import lookups

    lake_s3: Any = None
    if table:
        import boto3

        from creditwatch_common.log import LogReader

        # Uses the caller's AWS credentials and region, like the AWS CLI.
        log = LogReader(dynamodb=boto3.client("dynamodb"), table=table, shards=shards)
        if lake_bucket:
            lake_s3 = boto3.client("s3")
    else:
        from creditwatch import lake

        log = common.prediction_log()
        lake_s3, local_bucket = lake.bucket(common.local_state().endpoint)
        lake_bucket = lake_bucket or local_bucket
        if review_table is None:
            from creditwatch.local.template import Template

            review_table = Template().ref("ReviewCasesTable")
    if lookups.millis_of(prediction_id) is None:
        common.fail(f"{prediction_id} is not a prediction id (a UUIDv7)", errors.USAGE)
    erased = lookups.erase(log, prediction_id, lake_s3=lake_s3, lake_bucket=lake_bucket, review_table=review_table)
    common.print_json(erased)
    in_lake = erased["lake"].get("rows_removed", 0)
    if "error" in erased["lake"]:
        common.fail(f"the lake was not fully rewritten: {erased['lake']['error']}")
    if not erased["erased"] and not in_lake:
        where = f" nor in lake bucket {lake_bucket}" if lake_bucket else ""
        common.fail(f"no record with prediction id {prediction_id} in table {log.table}{where}")
    if not erased["erased"]:
        typer.echo(
            f"table {log.table} no longer holds {prediction_id} (past its TTL?): erased {in_lake} row(s) from the "
            "lake, its outcomes found by scanning outcomes/",
            err=True,
        )


@log_app.command("tail")
def log_tail(
    minutes: Annotated[int, typer.Option(help="How far back")] = 15,
    limit: Annotated[int, typer.Option(help="Most records to print")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as a JSON array")] = False,
) -> None:
    """Print the latest records of the prediction log."""
    from datetime import UTC, datetime, timedelta

    from creditwatch_common.records import FullRow

    end = datetime.now(UTC) + timedelta(seconds=1)
    window = common.prediction_log().query_window(
        end - timedelta(minutes=minutes), end, FullRow, include_synthetic=True
    )
    rows = sorted(window, key=lambda r: r.sk)[-limit:] if limit > 0 else []
    if as_json:
        common.print_json([r.model_dump(mode="json", exclude_none=True) for r in rows])
        return
    render.log_rows(rows, minutes)


def replay_spill(
    max_messages: Annotated[int, typer.Option(help="Stop after this many")] = 10_000,
    table: Annotated[
        str | None, typer.Option(help="Deployed stack: the PredictionsTableName output (default: the local stack)")
    ] = None,
    queue_url: Annotated[str | None, typer.Option(help="Deployed stack: the SpillQueueUrl output")] = None,
    shards: common.DeployedShards = 16,
) -> None:
    """Move prediction log records from the spill queue back into the table (local stack, or a deployed one)."""
    if (table is None) != (queue_url is None):
        common.fail("give both --table and --queue-url (a deployed stack), or neither (the local stack)", errors.USAGE)
    if table and queue_url:
        import boto3

        from creditwatch_common.log import PredictionLog

        # Uses the caller's AWS credentials and region, like the AWS CLI.
        log = PredictionLog(
            dynamodb=boto3.client("dynamodb"),
            table=table,
            shards=shards,
            sqs=boto3.client("sqs"),
            spill_queue_url=queue_url,
        )
    else:
        log = common.prediction_log()
    result = log.replay_spilled(max_messages=max_messages)
    typer.echo(f"replayed {result['replayed']} record(s); {result['failed']} failed (left in the queue)")
    if result["failed"]:
        raise typer.Exit(errors.FAILED)


def register(app: typer.Typer) -> None:
    """Add the top-level log command."""
    app.command("replay-spill")(replay_spill)
