"""The lake of the local (or a deployed) stack: `lake export|query`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render

lake_app = common.sub_app("The lake of the local stack: export recent hours, query them with SQL.")


@lake_app.command("export")
def lake_export(
    hours: Annotated[
        int | None, typer.Option(help="Hours to export, the current one included (default: LakeExportHours)")
    ] = None,
    backfill: Annotated[
        bool,
        typer.Option(
            "--backfill",
            help="Write every hour of [--start, --end) instead, day by day: days past RejectedTtlDays only when "
            "they hold simulated history (`simulate history`) and no other record",
        ),
    ] = False,
    start: Annotated[str | None, typer.Option(help="--backfill: the first day or time (UTC), e.g. 2026-09-01")] = None,
    end: Annotated[str | None, typer.Option(help="--backfill: the end (excluded; default: now)")] = None,
) -> None:
    """Rewrite the recent hours of the prediction log as Parquet, as the hourly LakeExportFunction does."""
    from creditwatch import lake
    from creditwatch.local.template import Template
    from creditwatch.progress import progress_bar
    from creditwatch_analytics.lake.export import RewriteRefused

    if hours is not None and hours < 1:
        common.fail(f"--hours must be at least 1, not {hours}", errors.USAGE)
    if backfill:
        if hours is not None:
            common.fail("--hours and --backfill do not go together: a backfill takes --start and --end", errors.USAGE)
        if start is None:
            common.fail("--backfill needs --start (a day or time, UTC)", errors.USAGE)
        first = common.instant(start, "--start", day=True)
        until = common.instant(end, "--end", day=True) if end else datetime.now(UTC)
        if first >= until:
            common.fail(f"--start {start} is not before the end of the backfill", errors.USAGE)
        state = common.local_state()
        with progress_bar("days") as progress:
            try:
                result = lake.backfill(state.endpoint, first, until, progress)
            except RewriteRefused as exc:
                common.fail(f"--backfill: {exc}", errors.USAGE)
        render.lake_backfill(result)
        return
    if start is not None or end is not None:
        common.fail("--start and --end go with --backfill", errors.USAGE)
    state = common.local_state()
    n = hours if hours is not None else int(Template(endpoint=state.endpoint).parameters["LakeExportHours"])
    with progress_bar("hours") as progress:
        try:
            result = lake.exporter(state.endpoint).export(n, progress=progress)
        except RewriteRefused as exc:
            common.fail(f"--hours {n}: {exc}", errors.USAGE)
    render.lake_export(result)


@lake_app.command("query")
def lake_query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL. Locally (DuckDB): the views `predictions`, `outcomes` (latest per prediction_id), "
            "`outcome_events`, `reviews` (a reviewer's latest decision per prediction_id) and `review_events`. "
            "With --workgroup (Athena): the Glue tables `predictions`, `outcome_events` and `review_events` "
            "only (no latest-per-prediction views: take the latest recorded_at or decided_at per "
            'prediction_id), partitioned by `dt`: filter on it. E.g. "SELECT decision, count(*) FROM '
            'predictions GROUP BY 1"'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects")] = False,
    workgroup: Annotated[
        str | None, typer.Option(help="Deployed stack, through Athena: the LakeWorkGroupName output")
    ] = None,
    database: Annotated[str | None, typer.Option(help="Deployed stack: the LakeDatabaseName output")] = None,
    timeout: Annotated[int, typer.Option(min=10, help="Deployed stack: stop the query after this many seconds")] = 300,
) -> None:
    """SQL over the lake: DuckDB on the local stack, Athena on a deployed one (--workgroup, --database).

    Locally the views are `predictions`, `outcomes` (latest per prediction_id), `outcome_events`,
    `reviews` (a reviewer's latest decision per prediction_id) and `review_events`; with no local stack
    running, the lake the demo left behind (copied when its stack stopped) answers. In Athena the Glue
    tables are `predictions`, `outcome_events` and `review_events` (no `outcomes` or `reviews` view),
    partitioned by `dt` and `hour`.
    """
    import duckdb

    from creditwatch import lake as local_lake
    from creditwatch.demo import demo_state_dir
    from creditwatch.local import stack
    from creditwatch_analytics.lake.schema import LakeError

    if (workgroup is None) != (database is None):
        common.fail(
            "give both --workgroup and --database (a deployed stack), or neither (the local stack)", errors.USAGE
        )
    if workgroup and database:
        names, rows = _athena_query(sql, workgroup, database, timeout)
        render.rows(names, rows, as_json)
        return
    state = stack.load_state()
    if state is not None:
        lake = local_lake.window(state.endpoint)
    else:
        lake = local_lake.saved_window(stack.state_dir()) or local_lake.saved_window(demo_state_dir())
        if lake is None:
            common.fail("the local stack is not running: start it with `creditwatch local up`", errors.STACK_DOWN)
        typer.echo(f"no local stack runs: querying the lake the demo left in {lake.bucket}", err=True)
    try:
        names, rows = lake.query(sql)
    except LakeError as exc:
        common.fail(str(exc))
    except duckdb.Error as exc:
        common.fail(f"the query failed: {exc}")
    render.rows(names, rows, as_json)


def _athena_query(sql: str, workgroup: str, database: str, timeout: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One query through the deployed lake's Athena workgroup, with the caller's credentials and region."""
    import time

    import boto3

    from creditwatch_analytics.lake.athena import AthenaClient, AthenaError

    end = time.monotonic() + timeout
    client = AthenaClient(
        boto3.client("athena"), workgroup, database, remaining=lambda: end - time.monotonic(), margin=0
    )
    try:
        result = client.run(sql)
    except AthenaError as exc:
        common.fail(str(exc))
    if result.bytes_scanned is not None:
        typer.echo(f"athena query {result.query_id}: {result.bytes_scanned:,} bytes scanned", err=True)
    return result.columns, result.rows
