"""A cohort's scored predictions with their latest outcome, read in bounded memory (LakeWindow.labelled_frame).

Over `max_rows` scored predictions, the rows handed back are the cohort's uniform bottom-k sample on the
sample key (the drift sample's key: creditwatch_analytics.sampling), and only the sampled ids' outcome
events are read into the latest-per-prediction step. The cohort's totals (scored, labelled, bad, per
model version) are counted in SQL over every scored prediction, never handed back as rows.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from creditwatch_analytics.lake.schema import SAMPLE_KEY_SEED
from creditwatch_analytics.sampling import sample_mask

# Rows of a labelled frame at most: above, a uniform sample of this many (QUALITY_MAX_ROWS's default).
DEFAULT_MAX_ROWS = 500_000
# Share of the function's memory DuckDB may use before it spills its joins and aggregates to /tmp.
MEMORY_SHARE = 0.5

SCORED = "probability_good_credit IS NOT NULL AND ts >= $start AND ts < $end"


@dataclass(frozen=True)
class LabelledFrame:
    """The labelled rows (all of the cohort, or its uniform sample) and the whole cohort's counts."""

    table: Any  # pyarrow Table: LABELLED_COLUMNS then the features asked for, ordered by prediction_id
    rows: int  # scored predictions of the cohort
    labelled_rows: int  # of them, with an outcome
    bad_rows: int  # of them, whose latest outcome is bad
    model_versions: dict[str, int] = field(default_factory=dict)  # scored predictions per model version
    # The largest sample key kept (None: every scored prediction is in the table).
    threshold: int | None = None

    @property
    def sampled(self) -> bool:
        """Whether the table is a sample of the cohort rather than all of it."""
        return self.threshold is not None


def key_expression(columns: set[str], seed: int) -> tuple[str, dict[str, Any]]:
    """SQL of the sample key (sampling.sample_key) and its parameters: the stored column for the files' seed."""
    if seed == SAMPLE_KEY_SEED and "sample_key" in columns:
        return "sample_key", {}
    return "CAST(xor(('0x' || right(prediction_id, 12))::UBIGINT, $mask::UBIGINT) AS BIGINT)", {
        "mask": sample_mask(seed)
    }


def totals_sql(key: str) -> str:
    """Per model version over every scored prediction: count, labelled, bad, and its k smallest sample keys.

    Outcome events are cut to the cohort's ids (a semi join) before the latest per prediction is taken.
    """
    return (
        f"WITH cohort AS (SELECT prediction_id, model_version, {key} AS k FROM predictions WHERE {SCORED}), "
        "latest AS (SELECT prediction_id, arg_max(outcome, recorded_at) AS outcome FROM outcome_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM cohort) GROUP BY prediction_id) "
        "SELECT c.model_version, count(*), count(l.outcome), count(*) FILTER (WHERE l.outcome = 'bad'), "
        "min(c.k, $k) FROM cohort c LEFT JOIN latest l USING (prediction_id) GROUP BY 1"
    )


def sample_sql(key: str, features: list[str], sampled: bool) -> str:
    """The scored predictions (the k under the threshold, when sampled) and their latest outcome.

    The sample is made first; the outcome events are filtered by a semi join on its ids, so the
    latest-per-prediction step (a window function) sees only the sample's events.
    """
    selected = "".join(f', s."{n}"' for n in features)
    columns = ", ".join(
        ["prediction_id", "ts", "probability_good_credit", "prediction", "decision", "model_version"]
        + [f'"{n}"' for n in features]
    )
    where = SCORED + (f" AND {key} <= $threshold" if sampled else "")
    limit = f" ORDER BY {key}, prediction_id LIMIT $k" if sampled else ""
    return (
        f"WITH sample AS MATERIALIZED (SELECT {columns} FROM predictions WHERE {where}{limit}), "
        "latest AS (SELECT prediction_id, outcome, observed_at FROM outcome_events "
        "WHERE prediction_id IN (SELECT prediction_id FROM sample) "
        "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY recorded_at DESC) = 1) "
        "SELECT s.prediction_id, s.ts, s.probability_good_credit, s.prediction, s.decision, s.model_version, "
        f"l.outcome, l.observed_at AS outcome_observed_at{selected} "
        "FROM sample s LEFT JOIN latest l USING (prediction_id) ORDER BY s.prediction_id"
    )


def spill_to_tmp(con: Any) -> None:
    """Let DuckDB spill the whole-cohort join to /tmp rather than run out of the function's memory."""
    con.execute(f"SET temp_directory = '{os.path.join(tempfile.gettempdir(), 'duckdb-spill')}'")
    lambda_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if lambda_mb and lambda_mb.isdigit():
        con.execute(f"SET memory_limit = '{int(int(lambda_mb) * MEMORY_SHARE)}MB'")


def read_labelled(
    con: Any, start: datetime, end: datetime, columns: set[str], features: list[str], max_rows: int, seed: int
) -> LabelledFrame:
    """The cohort's totals (one pass over it), then its labelled rows: all, or the bottom-max_rows sample."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    spill_to_tmp(con)
    key, params = key_expression(columns, seed)
    window = {"start": start, "end": end}
    per_version = con.execute(totals_sql(key), {**params, **window, "k": max_rows}).fetchall()
    rows = sum(int(r[1]) for r in per_version)
    keys = sorted(x for *_, smallest in per_version for x in smallest)
    sampled = rows > max_rows
    query_params = {**window, **({**params, "k": max_rows, "threshold": keys[max_rows - 1]} if sampled else {})}
    table = con.sql(sample_sql(key, features, sampled), params=query_params).to_arrow_table()
    return LabelledFrame(
        table=table,
        rows=rows,
        labelled_rows=sum(int(r[2]) for r in per_version),
        bad_rows=sum(int(r[3]) for r in per_version),
        model_versions={str(v if v is not None else "unknown"): int(n) for v, n, *_ in per_version},
        threshold=keys[max_rows - 1] if sampled else None,
    )
