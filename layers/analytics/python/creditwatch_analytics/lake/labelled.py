"""A cohort's scored predictions with their latest outcome, read in bounded memory (every engine's `labelled`).

Over `max_rows` scored predictions, the rows handed back are the cohort's uniform bottom-k sample (the
drift sample's rule: creditwatch_analytics.sampling.bottom_k in Python, lake.sql.sample_query in SQL), and
only the sampled ids' outcome events are read into the latest-per-prediction step. The cohort's totals
(scored, labelled, bad, per model version) count every scored prediction, never handed back as rows.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from creditwatch_analytics.lake.sql import render, sample_query, window_filter
from creditwatch_analytics.sampling import bottom_k
from creditwatch_common.outcomes import LabelledRow

# Rows of a labelled frame at most: above, a uniform sample of this many (QUALITY_MAX_ROWS's default).
DEFAULT_MAX_ROWS = 500_000
# Share of the function's memory DuckDB may use before it spills its joins and aggregates to /tmp.
MEMORY_SHARE = 0.5
# The prediction's columns of a labelled frame; the outcome's two and the features follow.
PREDICTION_COLUMNS = (
    "prediction_id",
    "ts",
    "probability_good_credit",
    "prediction",
    "decision",
    "model_version",
    # The shadow challenger's answer for the same application (null where none was set).
    "challenger_version",
    "challenger_probability_good_credit",
    "challenger_decision",
)
# A reviewer's latest decision on the prediction's referred case (null where nobody decided one), and whether
# it differs from the model's: the lake's `reviews`, the table's `final_decision` and `override`.
REVIEW_COLUMNS = ("final_decision", "override")
LABELLED_COLUMNS = (*PREDICTION_COLUMNS, "outcome", "outcome_observed_at", *REVIEW_COLUMNS)


@dataclass(frozen=True)
class LabelledFrame:
    """The labelled rows (all of the cohort, or its uniform sample), the whole cohort's counts, who read it."""

    table: Any  # pyarrow Table: LABELLED_COLUMNS then the features asked for, ordered by prediction_id
    rows: int  # scored predictions of the cohort
    labelled_rows: int  # of them, with an outcome
    bad_rows: int  # of them, whose latest outcome is bad
    model_versions: dict[str, int] = field(default_factory=dict)  # scored predictions per model version
    engine: str = "lake"
    reviewed_rows: int = 0  # scored predictions whose case a reviewer decided
    overridden_rows: int = 0  # of them, against the model's decision

    @property
    def sampled(self) -> bool:
        """Whether the table is a sample of the cohort rather than all of it."""
        return self.rows > self.table.num_rows


def totals_sql(where: str) -> str:
    """Per model version over the scored predictions of `where` (Trino): count, labelled, bad, reviewed, overridden.

    Outcome and review events are cut to the cohort's ids (a semi join) before the latest per prediction is taken.
    """
    cohort = render(f"SELECT prediction_id, model_version FROM predictions WHERE {where}", "duckdb")
    return (
        f"WITH cohort AS ({cohort}), "
        "latest AS (SELECT prediction_id, arg_max(outcome, recorded_at) AS outcome FROM outcome_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM cohort) GROUP BY prediction_id), "
        "decided AS (SELECT prediction_id, arg_max(override, decided_at) AS override FROM review_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM cohort) GROUP BY prediction_id) "
        "SELECT c.model_version, count(*), count(l.outcome), count(*) FILTER (WHERE l.outcome = 'bad'), "
        "count(d.prediction_id), count(*) FILTER (WHERE d.override) "
        "FROM cohort c LEFT JOIN latest l USING (prediction_id) LEFT JOIN decided d USING (prediction_id) GROUP BY 1"
    )


def sample_sql(where: str, features: Sequence[str], k: int, seed: int, sampled: bool) -> str:
    """The scored predictions of `where` (the bottom-k, when sampled), their latest outcome and reviewer's decision.

    The sample is made first (sql.sample_query); the outcome and review events are filtered by a semi join
    on its ids, so the latest-per-prediction steps (window functions) see only the sample's events.
    """
    if sampled:
        chosen = sample_query(where, features, k, seed, outputs=PREDICTION_COLUMNS)
    else:
        columns = ", ".join(f'"{c}"' for c in (*PREDICTION_COLUMNS, *features))
        chosen = f"SELECT {columns} FROM predictions WHERE {where}"
    selected = "".join(f', s."{n}"' for n in features)
    return (
        f"WITH sample AS MATERIALIZED ({render(chosen, 'duckdb')}), "
        "latest AS (SELECT prediction_id, outcome, observed_at FROM outcome_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM sample) "
        "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY recorded_at DESC) = 1), "
        "decided AS (SELECT prediction_id, decision, override FROM review_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM sample) "
        "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY decided_at DESC) = 1) "
        f"SELECT {', '.join(f's.{c}' for c in PREDICTION_COLUMNS)}, "
        f"l.outcome, l.observed_at AS outcome_observed_at, d.decision AS final_decision, d.override{selected} "
        "FROM sample s LEFT JOIN latest l USING (prediction_id) LEFT JOIN decided d USING (prediction_id) "
        "ORDER BY s.prediction_id"
    )


def spill_to_tmp(con: Any) -> None:
    """Let DuckDB spill the whole-cohort join to /tmp rather than run out of the function's memory."""
    con.execute(f"SET temp_directory = '{os.path.join(tempfile.gettempdir(), 'duckdb-spill')}'")
    lambda_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if lambda_mb and lambda_mb.isdigit():
        con.execute(f"SET memory_limit = '{int(int(lambda_mb) * MEMORY_SHARE)}MB'")


def read_labelled(
    con: Any, start: datetime, end: datetime, features: list[str], max_rows: int, seed: int
) -> LabelledFrame:
    """The cohort's totals (one pass over it), then its labelled rows: all, or the bottom-max_rows sample."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    spill_to_tmp(con)
    where = window_filter(start, end, partitions=False)
    per_version = con.execute(totals_sql(where)).fetchall()
    rows = sum(int(r[1]) for r in per_version)
    table = con.sql(sample_sql(where, features, max_rows, seed, rows > max_rows)).to_arrow_table()
    return LabelledFrame(
        table=table,
        rows=rows,
        labelled_rows=sum(int(r[2]) for r in per_version),
        bad_rows=sum(int(r[3]) for r in per_version),
        model_versions={str(v if v is not None else "unknown"): int(n) for v, n, *_ in per_version},
        reviewed_rows=sum(int(r[4]) for r in per_version),
        overridden_rows=sum(int(r[5]) for r in per_version),
    )


def empty_labelled(features: Sequence[str], engine: str) -> LabelledFrame:
    """A cohort without a scored prediction."""
    import pyarrow as pa

    return LabelledFrame(
        pa.table({n: pa.array([], pa.string()) for n in (*LABELLED_COLUMNS, *features)}), 0, 0, 0, {}, engine
    )


@dataclass(frozen=True, slots=True)
class _Kept:
    """What a labelled frame keeps of a row streamed from the table."""

    prediction_id: str
    model_version: str
    values: tuple[Any, ...]  # LABELLED_COLUMNS after the id, then the features


def labelled_from_rows(
    rows: Iterable[LabelledRow], features: Sequence[str], max_rows: int, seed: int, engine: str
) -> LabelledFrame:
    """The table's rows (outcomes on their items) as a labelled frame: the same bottom-k, counted whole on the way."""
    import pandas as pd
    import pyarrow as pa

    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    totals = [0, 0, 0, 0]  # labelled, bad, reviewed, overridden

    def compact() -> Iterator[_Kept]:
        for row in rows:
            if row.probability_good_credit is None:
                continue
            if row.outcome is not None:
                totals[0] += 1
                totals[1] += row.outcome == "bad"
            if row.final_decision is not None:
                totals[2] += 1
                totals[3] += bool(row.override)
            values = (
                row.ts,
                row.probability_good_credit,
                row.prediction,
                row.decision,
                row.model_version,
                row.challenger_version,
                row.challenger_probability_good_credit,
                row.challenger_decision,
            )
            outcome = (row.outcome, row.outcome_observed_at, row.final_decision, row.override)
            yield _Kept(
                row.prediction_id, row.model_version, (*values, *outcome, *(row.features.get(n) for n in features))
            )

    kept, n, versions = bottom_k(compact(), max_rows, seed)
    kept.sort(key=lambda k: k.prediction_id)  # id order, as the lake's frame
    names = (*LABELLED_COLUMNS, *features)
    columns: dict[str, Any] = {"prediction_id": pa.array([k.prediction_id for k in kept], pa.string())}
    for i, name in enumerate(names[1:]):
        values = [k.values[i] for k in kept]
        if name == "ts":
            columns[name] = pa.array(pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601"))
            continue
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return LabelledFrame(pa.table(columns), n, totals[0], totals[1], dict(versions), engine, totals[2], totals[3])
