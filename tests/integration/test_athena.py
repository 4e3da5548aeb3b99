"""The athena engine against a moto server: start, poll, fetch, paginate, failures and the scan cutoff.

moto records the queries and moves them through QUEUED -> RUNNING -> SUCCEEDED (manually, one step
per poll, with its state manager), serves results seeded through its API and cancels a query on
StopQueryExecution; it never fails a query nor pages results, which the AthenaProxy (tests/faults.py)
answers as the service does.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faults import AthenaProxy, threaded_moto

from creditwatch.local.stack import boto_client
from creditwatch_analytics.lake import sql
from creditwatch_analytics.lake.athena import (
    AthenaClient,
    AthenaError,
    AthenaScanLimitError,
    AthenaTimeoutError,
    AthenaWindow,
)

WORKGROUP = "creditwatch-test-lake"
DATABASE = "creditwatch_test"
CUTOFF = 10 * 2**20
START = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """One moto server for the module."""
    with threaded_moto() as endpoint:
        yield endpoint


def moto_api(server: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{server}/moto-api/{path}", data=json.dumps(body).encode(), method="POST")
    urllib.request.urlopen(request, timeout=10)


@pytest.fixture
def proxy(server: str) -> Iterator[AthenaProxy]:
    """A fresh moto (two polls per state step, a workgroup with a cutoff) behind the Athena proxy."""
    urllib.request.urlopen(urllib.request.Request(f"{server}/moto-api/reset", method="POST"), timeout=10)
    moto_api(
        server,
        "state-manager/set-transition",
        {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}},
    )
    boto_client("athena", server).create_work_group(
        Name=WORKGROUP, Configuration={"BytesScannedCutoffPerQuery": CUTOFF, "EnforceWorkGroupConfiguration": True}
    )
    with AthenaProxy(server, page_size=3) as p:
        yield p


def seed_results(server: str, columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
    """The next query's result as Athena gives it: a header row, then every value as text (None: NULL)."""
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    info = [{"Name": name, "Label": name, "Type": kind} for name, kind in columns]
    moto_api(server, "static/athena/query-results", {"results": [{"rows": [header, *data], "column_info": info}]})


def client(url: str, **kwargs: Any) -> tuple[AthenaClient, list[float]]:
    delays: list[float] = []
    athena = boto_client("athena", url)
    return AthenaClient(athena, WORKGROUP, DATABASE, sleep=delays.append, **kwargs), delays


def test_a_query_is_started_in_the_workgroup_polled_with_backoff_and_every_page_fetched_typed(server, proxy):
    columns = [("model_version", "varchar"), ("n", "bigint"), ("p", "double"), ("at", "timestamp"), ("ok", "boolean")]
    rows = [[f"v{i}", str(i), f"{i / 10}", f"2026-11-02 0{i}:00:00.000", "true"] for i in range(7)]
    rows.append([None, "8", None, None, "false"])
    seed_results(server, columns, rows)
    c, delays = client(proxy.url)
    result = c.run("SELECT model_version, count(*) AS n FROM predictions GROUP BY 1")
    assert result.columns == ["model_version", "n", "p", "at", "ok"]
    assert result.rows[0] == ("v0", 0, 0.0, datetime(2026, 11, 2, 0, 0), True)
    assert result.rows[-1] == (None, 8, None, None, False)
    assert len(result.rows) == 8  # the header row dropped, every page read
    # 9 rows with the header, 3 a page: three GetQueryResults calls, each after the first with a token.
    assert proxy.stats("GetQueryResults").seen == 3
    # QUEUED and RUNNING for two polls each, then SUCCEEDED: the waits between polls grow.
    assert c.polls == 4 and len(delays) == 3 and delays[0] < delays[1] < delays[2]
    execution = boto_client("athena", server).get_query_execution(QueryExecutionId=result.query_id)
    recorded = execution["QueryExecution"]
    assert recorded["Query"] == "SELECT model_version, count(*) AS n FROM predictions GROUP BY 1"
    assert recorded["WorkGroup"] == WORKGROUP
    assert recorded["QueryExecutionContext"]["Database"] == DATABASE


def test_a_failed_query_raises_with_athenas_reason(proxy):
    c, _ = client(proxy.url)
    proxy.end_next("FAILED", "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved")
    with pytest.raises(AthenaError, match="FAILED: SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved") as e:
        c.run("SELECT nope FROM predictions")
    assert e.value.state == "FAILED" and not isinstance(e.value, AthenaScanLimitError)


def test_a_query_cancelled_by_someone_else_raises_cancelled(server, proxy):
    other = boto_client("athena", server)
    c, _ = client(proxy.url)

    def stop_it(_seconds: float) -> None:
        # While the client waits, an operator stops the query (moto marks it CANCELLED).
        for qid in other.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]:
            other.stop_query_execution(QueryExecutionId=qid)

    c.sleep = stop_it
    with pytest.raises(AthenaError, match="CANCELLED") as e:
        c.run("SELECT count(*) FROM predictions")
    assert e.value.state == "CANCELLED"


def test_the_workgroups_scan_cutoff_is_a_clear_error_naming_the_cutoff(proxy):
    c, _ = client(proxy.url)
    proxy.end_next("CANCELLED", "Query cancelled! : Bytes scanned limit was exceeded", scanned=CUTOFF + 4096)
    with pytest.raises(AthenaScanLimitError) as e:
        c.run("SELECT * FROM predictions")
    message = str(e.value)
    assert f"BytesScannedCutoffPerQuery {CUTOFF:,} bytes" in message and WORKGROUP in message
    assert f"scanned {CUTOFF + 4096:,} bytes" in message and "AthenaBytesScannedCutoff" in message


def test_a_query_still_running_at_the_deadline_is_stopped(server, proxy):
    moto_api(
        server,
        "state-manager/set-transition",
        {"model_name": "athena::execution", "transition": {"progression": "manual", "times": 1000}},
    )
    left = iter([30.0, 12.0, 6.0, 4.0])
    c, delays = client(proxy.url, remaining=lambda: next(left), margin=5.0)
    with pytest.raises(AthenaTimeoutError, match="at the deadline: stopped") as e:
        c.run("SELECT count(*) FROM predictions")
    # Waits never outlast the time left less the margin; the query is stopped, not left running.
    assert all(d <= 25.0 for d in delays) and len(delays) == 3
    state = boto_client("athena", server).get_query_execution(QueryExecutionId=e.value.query_id or "")
    assert state["QueryExecution"]["Status"]["State"] == "CANCELLED"


def test_the_athena_window_sends_the_queries_written_once_and_reads_their_answers(server, proxy, model):
    spec = sql.CountSpec(
        (sql.BinSpec("age_in_years", (25.0, 40.0)), sql.BinSpec("decision", codes=("approve", "refuse"))),
        (sql.GroupSpec("foreign_worker", "foreign_worker", mapping=(("A201", "yes"), ("A202", "no"))),),
    )
    seed_results(server, [("model_version", "varchar"), ("n", "bigint")], [["v1", "5"]])
    # The grouping sets' rows: (age bin, decision bin, group) keys, one set a row, then rows, approvals (final
    # decisions), P(good) sum, referred rows, those a reviewer decided and those decided against the model
    # (the window's figures: the first set's rows added up).
    keyed = [
        ["0", None, None, "1", "1", "0.7", "0", "0", "0"],
        ["1", None, None, "3", "2", "2.1", "1", "1", "1"],
        ["2", None, None, "1", "1", "0.7", "1", "0", "0"],
        [None, "0", None, "4", "4", "2.8", "2", "1", "1"],
        [None, "1", None, "1", "0", "0.7", "0", "0", "0"],
        [None, None, "0", "4", "3", "2.5", "2", "1", "1"],
        [None, None, "-1", "1", "1", "1.0", "0", "0", "0"],  # a code no group maps to: not counted
    ]
    types = ["integer", "integer", "integer", "bigint", "bigint", "double", "bigint", "bigint", "bigint"]
    names = ["k0", "k1", "k2", "n", "a", "p", "r", "v", "o"]
    seed_results(server, [(n, t) for n, t in zip(names, types, strict=True)], keyed)
    features = model.schema.names
    sample_columns = [("prediction_id", "varchar"), ("probability_good_credit", "double"), ("decision", "varchar")]
    sample_columns += [("model_version", "varchar")] + [(n, "varchar") for n in features]
    sample = [[f"id-{i}", "0.7", "approve", "v1", *(["A201"] * len(features))] for i in range(5)]
    seed_results(server, sample_columns, sample)
    c, _ = client(proxy.url)
    window = AthenaWindow(c, features)
    end = START + timedelta(hours=30)
    got = window.scored_sample(START, end, 50, 0, spec)
    where = sql.window_filter(START, end, partitions=True)
    assert window.queries == [
        sql.render(sql.versions_query(where), "trino"),
        # Approvals on the final decision: the Glue table review_events joined, pruned from the window's day.
        sql.render(sql.counts_query(where, spec, sql.reviews_filter(START, partitions=True)), "trino"),
        sql.render(sql.sample_query(where, features, 50, 0), "trino"),
    ]
    athena = boto_client("athena", server)
    sent = [
        athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
        for q in athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    ]
    assert sorted(sent) == sorted(window.queries)
    assert got.engine == "athena" and got.rows_read == 5 and got.model_versions == {"v1": 5}
    assert [r.prediction_id for r in got.rows] == [f"id-{i}" for i in range(5)]
    assert got.counts is not None and got.counts.rows == 5 and got.counts.referred == 2
    assert (got.counts.reviewed, got.counts.overridden, got.counts.pending) == (1, 1, 1)
    assert got.counts.bins == {"age_in_years": [1, 3, 1], "decision": [4, 1, 0]}
    assert got.counts.groups["foreign_worker"]["yes"].rows == 4
    assert got.counts.groups["foreign_worker"]["yes"].approved == 3
    assert got.counts.groups["foreign_worker"]["yes"].probability_sum == 2.5
    assert "no" not in got.counts.groups["foreign_worker"]  # an empty group: NULL sums


def test_lake_query_on_a_deployed_stack_goes_through_the_workgroup(server, proxy):
    from typer.testing import CliRunner

    from creditwatch.cli import app

    seed_results(server, [("decision", "varchar"), ("n", "bigint")], [["approve", "7"], ["refuse", "3"]])
    query = "SELECT decision, count(*) AS n FROM predictions GROUP BY 1"
    args = ["lake", "query", query, "--workgroup", WORKGROUP, "--database", DATABASE, "--json"]
    result = CliRunner().invoke(app, args, env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"decision": "approve", "n": 7}, {"decision": "refuse", "n": 3}]
    athena = boto_client("athena", server)
    (qid,) = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    assert athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Query"] == query
    # The cutoff, as the user sees it: the CLI's one-line error naming it (exit 1).
    proxy.end_next("CANCELLED", "Query cancelled! : Bytes scanned limit was exceeded")
    failed = CliRunner().invoke(app, args, env={"AWS_ENDPOINT_URL": proxy.url})
    (line,) = failed.stderr.strip().splitlines()
    assert failed.exit_code == 1 and line.startswith("error: ")
    assert f"BytesScannedCutoffPerQuery {CUTOFF:,} bytes" in line
