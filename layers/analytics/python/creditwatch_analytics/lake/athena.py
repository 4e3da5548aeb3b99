"""The `athena` engine: the window queries of creditwatch_analytics.lake.sql run by Athena in the lake's workgroup.

A query is started in the workgroup (its results location and scan cutoff are the workgroup's, which
it enforces), polled with a growing delay until it ends or the caller's deadline comes (then it is
stopped), and its result pages fetched and typed by the column types Athena names. A query Athena
cancels because it scanned more than the workgroup's cutoff fails with an error naming the cutoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from creditwatch_analytics.lake.sql import (
    SAMPLE_OUTPUTS,
    CountSpec,
    counts_query,
    parse_counts,
    render,
    reviews_filter,
    sample_query,
    versions_query,
    window_filter,
)
from creditwatch_common.records import ScoredRow

DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
# Athena's reason when the workgroup's per-query data usage control cancels a query.
CUTOFF_MARKERS = ("bytes scanned limit", "data usage limit", "bytesscannedcutoffperquery")
PAGE = 1000  # GetQueryResults' largest page


class AthenaError(Exception):
    """An Athena query did not succeed: its id, state and Athena's reason."""

    def __init__(self, message: str, query_id: str | None = None, state: str | None = None) -> None:
        super().__init__(message)
        self.query_id = query_id
        self.state = state


class AthenaScanLimitError(AthenaError):
    """Athena cancelled the query at the workgroup's bytes-scanned cutoff."""


class AthenaTimeoutError(AthenaError):
    """The query had not ended by the caller's deadline (it was stopped)."""


@dataclass(frozen=True)
class QueryResult:
    """A finished query's columns, their Athena types, typed rows and what it scanned."""

    query_id: str
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    bytes_scanned: int | None = None


@dataclass
class AthenaClient:
    """Runs one query at a time in a workgroup, within a deadline (seconds left, e.g. Lambda's context)."""

    athena: Any  # boto3 Athena client
    workgroup: str
    database: str
    remaining: Callable[[], float] = lambda: 600.0
    first_delay: float = 0.2
    max_delay: float = 5.0
    backoff: float = 1.6
    # Seconds kept in hand when the deadline nears: stop the query rather than be killed mid-poll.
    margin: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    polls: int = field(default=0, init=False)

    def run(self, sql: str) -> QueryResult:
        """Start, wait for and fetch one query."""
        query_id = self.start(sql)
        execution = self.wait(query_id)
        stats = execution.get("Statistics") or {}
        columns, types, rows = self.fetch(query_id)
        return QueryResult(query_id, columns, types, rows, stats.get("DataScannedInBytes"))

    def start(self, sql: str) -> str:
        """StartQueryExecution in the workgroup and database."""
        resp = self.athena.start_query_execution(
            QueryString=sql, WorkGroup=self.workgroup, QueryExecutionContext={"Database": self.database}
        )
        return str(resp["QueryExecutionId"])

    def wait(self, query_id: str) -> dict[str, Any]:
        """Poll until the query ends (delays growing to max_delay); stop it when the deadline comes."""
        delay = self.first_delay
        while True:
            execution: dict[str, Any] = self.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            self.polls += 1
            status = execution.get("Status") or {}
            state = str(status.get("State", ""))
            if state == "SUCCEEDED":
                return execution
            if state in ("FAILED", "CANCELLED"):
                raise self._failure(query_id, state, execution)
            left = self.remaining() - self.margin
            if left <= 0:
                self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise AthenaTimeoutError(
                    f"athena query {query_id} still {state or 'pending'} at the deadline: stopped",
                    query_id,
                    state,
                )
            self.sleep(min(delay, left))
            delay = min(delay * self.backoff, self.max_delay)

    def _failure(self, query_id: str, state: str, execution: dict[str, Any]) -> AthenaError:
        status = execution.get("Status") or {}
        reason = str(status.get("StateChangeReason") or (status.get("AthenaError") or {}).get("ErrorMessage") or "")
        if any(m in reason.lower() for m in CUTOFF_MARKERS):
            cutoff = self.cutoff()
            scanned = (execution.get("Statistics") or {}).get("DataScannedInBytes")
            return AthenaScanLimitError(
                f"athena query {query_id} cancelled at workgroup {self.workgroup}'s bytes-scanned cutoff "
                f"(BytesScannedCutoffPerQuery {_size(cutoff)}"
                + (f", scanned {_size(scanned)}" if scanned else "")
                + f"): narrow the window or raise the AthenaBytesScannedCutoff parameter ({reason})",
                query_id,
                state,
            )
        return AthenaError(f"athena query {query_id} {state}: {reason or 'no reason given'}", query_id, state)

    def cutoff(self) -> int | None:
        """The workgroup's bytes-scanned cutoff per query (None when it has none or cannot be read)."""
        try:
            group = self.athena.get_work_group(WorkGroup=self.workgroup)["WorkGroup"]
        except Exception:  # noqa: BLE001 - the error names the cutoff as unknown rather than hiding the failure
            return None
        value = (group.get("Configuration") or {}).get("BytesScannedCutoffPerQuery")
        return int(value) if value is not None else None

    def fetch(self, query_id: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
        """Every result page (GetQueryResults' NextToken), the header row dropped, values typed."""
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        first = True
        for page in self._pages(query_id):
            result = page["ResultSet"]
            if first:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c.get("Name") or c.get("Label") or "" for c in info]
                types = [str(c.get("Type", "varchar")).lower() for c in info]
            data = result.get("Rows", [])
            if first and data and [d.get("VarCharValue") for d in data[0].get("Data", [])] == columns:
                data = data[1:]  # a SELECT's first row repeats the column names
            first = False
            for row in data:
                cells = row.get("Data", [])
                rows.append(tuple(convert(cell.get("VarCharValue"), t) for cell, t in zip(cells, types, strict=False)))
        return columns, types, rows

    def _pages(self, query_id: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE}
            if token:
                kwargs["NextToken"] = token
            page: dict[str, Any] = self.athena.get_query_results(**kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                return


def convert(value: str | None, athena_type: str) -> Any:
    """One result cell (always text in GetQueryResults) as the Python value of its Athena type."""
    if value is None:
        return None
    kind = athena_type.split("(", 1)[0].strip()
    if kind in ("tinyint", "smallint", "integer", "int", "bigint"):
        return int(value)
    if kind in ("double", "float", "real"):
        return float(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "date":
        return date.fromisoformat(value)
    if kind.startswith("timestamp"):
        text = value.replace(" UTC", "+00:00")
        return datetime.fromisoformat(text)
    return value


@dataclass
class AthenaWindow:
    """The window read by Athena: counts (joined to `review_events`) and the sample in SQL over `predictions`."""

    client: AthenaClient
    feature_names: list[str]
    # The lake in the function (lake.read.LakeWindow): the labelled cohort, which has no Athena reader.
    lake: Any = None
    engine: str = "athena"
    queries: list[str] = field(default_factory=list)

    def _run(self, sql: str) -> QueryResult:
        text = render(sql, "trino")
        self.queries.append(text)
        return self.client.run(text)

    def scored_sample(
        self, start: datetime, end: datetime, k: int, seed: int = 0, counts: CountSpec | None = None
    ) -> Any:
        """Versions, counts and the sample: three queries, each pruned to the window's dt partitions."""
        from creditwatch_analytics.lake.source import WindowSample

        where = window_filter(start, end, partitions=True)
        versions = {str(v if v is not None else "unknown"): int(n) for v, n in self._run(versions_query(where)).rows}
        window_counts = None
        if counts is not None:
            # Approvals are the final decisions: the Glue table review_events joined (its dt pruned).
            result = self._run(counts_query(where, counts, reviews_filter(start, partitions=True)))
            window_counts = parse_counts(result.rows, counts)
        total = sum(versions.values())
        if total == 0:
            return WindowSample([], 0, versions, self.engine, counts=window_counts)
        result = self._run(sample_query(where, self.feature_names, k, seed))
        names = result.columns
        rows = []
        for values in result.rows:
            rec = dict(zip(names, values, strict=False))
            rows.append(
                ScoredRow(
                    prediction_id=rec["prediction_id"],
                    features={n: rec[n] for n in self.feature_names if rec.get(n) is not None},
                    probability_good_credit=rec[SAMPLE_OUTPUTS[1]],
                    decision=rec.get("decision"),
                    model_version=rec.get("model_version") or "unknown",
                    ts=_iso(rec.get("ts")),
                    first_reason=rec.get("first_reason"),
                    challenger_version=rec.get("challenger_version"),
                    challenger_probability_good_credit=rec.get("challenger_probability_good_credit"),
                    challenger_decision=rec.get("challenger_decision"),
                    challenger_first_reason=rec.get("challenger_first_reason"),
                )
            )
        return WindowSample(rows, total, versions, self.engine, counts=window_counts)

    def labelled(
        self, start: datetime, end: datetime, features: list[str] | None = None, max_rows: int = 500_000, seed: int = 0
    ) -> Any:
        """The labelled cohort from the lake in the function (DuckDB), as `lake` reads it: no Athena reader."""
        if self.lake is None:
            raise ValueError("the athena engine reads labelled cohorts from the lake: it needs LAKE_BUCKET")
        return self.lake.labelled(start, end, features, max_rows, seed)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _size(value: int | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:,} bytes ({value / 2**30:.2f} GiB)"
