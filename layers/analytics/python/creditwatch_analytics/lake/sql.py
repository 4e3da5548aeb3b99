"""The window queries, written once in Athena's dialect (Trino) and transpiled by sqlglot for DuckDB.

Every query reads the view or table `predictions` (the lake's columns, creditwatch_analytics.lake.schema):
the model versions of a window, its bottom-k sample on the ids (`sample_query`: the SQL twin of
creditwatch_analytics.sampling.bottom_k), and one scan of counts: each column's
counts in the frozen PSI bins (right-closed numeric edges, one bin per code then the others) and each
protected group's rows, approvals and sum of P(good). Bins are CASE expressions over the frozen
edges (DuckDB has no width_bucket), literals are DOUBLE casts (a bare 0.1 is a DECIMAL in both engines).

`counts_from_frame` is the same counting in pandas: the dynamodb engine's (its streamed rows) and
the reference's, so every engine hands the drift job the same figures.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from creditwatch_analytics.sampling import sample_mask

Dialect = Literal["trino", "duckdb"]
SCORE = "probability_good_credit"
DECISION = "decision"
# A reviewer's latest decision on the record's referred case (null: nobody decided): the final decision.
FINAL_DECISION = "final_decision"
# Set on a record referred to a reviewer (lake.schema's `referral`): the window counts them.
REFERRAL = "referral"
APPROVE = "approve"
# The sample's columns: ScoredRow's (the shadow challenger's among them: lake.schema.SHADOW_COLUMNS).
SAMPLE_OUTPUTS = (
    "prediction_id",
    SCORE,
    DECISION,
    "model_version",
    "ts",
    "first_reason",
    "challenger_version",
    "challenger_probability_good_credit",
    "challenger_decision",
    "challenger_first_reason",
)
# Functions only DuckDB has: none may reach the Athena text.
DUCKDB_ONLY = ("strftime", "list_value", "arg_min", "arg_max", "epoch_ms", "struct_pack", "regexp_full_match", "xor")


@dataclass(frozen=True)
class BinSpec:
    """One column's frozen bins: numeric right-closed edges, or codes (then one bin for any other value)."""

    column: str
    edges: tuple[float, ...] = ()
    codes: tuple[str, ...] | None = None

    @property
    def size(self) -> int:
        """Number of bins."""
        return len(self.codes) + 1 if self.codes is not None else len(self.edges) + 1

    def index(self, value: Any) -> int | None:
        """The bin of one value (None when missing): the SQL CASE's answer, in Python."""
        if value is None:
            return None
        if self.codes is not None:
            text = str(value)
            return self.codes.index(text) if text in self.codes else len(self.codes)
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        return None if x != x else bisect.bisect_left(self.edges, x)

    def index_expression(self) -> str:
        """The bin of the column's value in SQL (-1 when missing): a CASE over the frozen edges or codes."""
        col = _ident(self.column)
        if self.codes is not None:
            whens = " ".join(f"WHEN {col} = {_str(c)} THEN {i}" for i, c in enumerate(self.codes))
            return f"CASE WHEN {col} IS NULL THEN -1 {whens} ELSE {len(self.codes)} END"
        whens = " ".join(f"WHEN {col} <= {_num(e)} THEN {i}" for i, e in enumerate(self.edges))
        return f"CASE WHEN {col} IS NULL THEN -1 {whens} ELSE {len(self.edges)} END"


@dataclass(frozen=True)
class GroupSpec:
    """A protected attribute: a column's codes mapped to groups, or numeric bands [cut_i, cut_i+1)."""

    attribute: str
    column: str
    mapping: tuple[tuple[str, str], ...] = ()  # (code, group)
    cuts: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()  # bands: one label per band (len(cuts) + 1)

    def groups(self) -> list[str]:
        """Every group, in a fixed order."""
        if self.mapping:
            return list(dict.fromkeys(g for _, g in self.mapping))
        return list(self.labels)

    def group_of(self, value: Any) -> str | None:
        """One value's group (None when missing or unknown), as the SQL predicate decides it."""
        if value is None:
            return None
        if self.mapping:
            return dict(self.mapping).get(str(value))
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        return None if x != x else self.labels[bisect.bisect_right(self.cuts, x)]

    def index_expression(self) -> str:
        """The group of the column's value in SQL (-1 when missing or unknown), in groups() order."""
        whens = " ".join(f"WHEN {p} THEN {i}" for i, p in enumerate(self.predicates()))
        return f"CASE {whens} ELSE -1 END"

    def predicates(self) -> list[str]:
        """One SQL predicate per group."""
        col = _ident(self.column)
        if self.mapping:
            return [
                f"{col} IN ({', '.join(_str(c) for c, g in self.mapping if g == group)})" for group in self.groups()
            ]
        bounds: list[float | None] = [None, *self.cuts, None]
        preds = []
        for lo, hi in itertools.pairwise(bounds):
            parts = [f"{col} >= {_num(lo)}" if lo is not None else f"{col} IS NOT NULL"]
            if hi is not None:
                parts.append(f"{col} < {_num(hi)}")
            preds.append(" AND ".join(parts))
        return preds


@dataclass(frozen=True)
class CountSpec:
    """What one counts query computes: every column's bins and every protected group."""

    bins: tuple[BinSpec, ...] = ()
    groups: tuple[GroupSpec, ...] = ()


@dataclass(frozen=True)
class GroupCount:
    """A protected group's scored rows, approvals (the final decision's) and sum of P(good)."""

    rows: int
    approved: int
    probability_sum: float


@dataclass
class WindowCounts:
    """A window's counts over all its scored rows (not a sample): additive across parts of a window."""

    rows: int = 0
    bins: dict[str, list[int]] = field(default_factory=dict)
    groups: dict[str, dict[str, GroupCount]] = field(default_factory=dict)
    # Of the rows, referred to a reviewer; of those, decided by one (the final decision is a person's), and
    # decided against the model. Referred and not decided: pending, counted with the model's decision.
    referred: int = 0
    reviewed: int = 0
    overridden: int = 0

    @property
    def pending(self) -> int:
        """Referred rows no reviewer has decided yet."""
        return max(0, self.referred - self.reviewed)

    def __add__(self, other: WindowCounts) -> WindowCounts:
        bins = {c: list(v) for c, v in self.bins.items()}
        for c, v in other.bins.items():
            bins[c] = [a + b for a, b in zip(bins.get(c, [0] * len(v)), v, strict=True)]
        groups = {a: dict(g) for a, g in self.groups.items()}
        for attribute, gs in other.groups.items():
            mine = groups.setdefault(attribute, {})
            for name, g in gs.items():
                o = mine.get(name, GroupCount(0, 0, 0.0))
                mine[name] = GroupCount(o.rows + g.rows, o.approved + g.approved, o.probability_sum + g.probability_sum)
        return WindowCounts(
            self.rows + other.rows,
            bins,
            groups,
            self.referred + other.referred,
            self.reviewed + other.reviewed,
            self.overridden + other.overridden,
        )


# ---- the queries (Trino text; `render` gives either dialect) -------------------------------------------


def window_filter(start: datetime, end: datetime, *, partitions: bool, cut: bool = True) -> str:
    """Scored rows of [start, end): with the dt partitions Athena prunes on, and the ts cut if asked."""
    parts = [f"{SCORE} IS NOT NULL"]
    if partitions:
        first, last = start.astimezone(UTC).date(), (end - timedelta(milliseconds=1)).astimezone(UTC).date()
        parts.append(f"dt BETWEEN {_str(first.isoformat())} AND {_str(last.isoformat())}")
    if cut:
        parts.append(f"ts >= {_ts(start)} AND ts < {_ts(end)}")
    return " AND ".join(parts)


def versions_query(where: str) -> str:
    """Scored rows per model version."""
    return f"SELECT model_version, count(*) AS n FROM predictions WHERE {where} GROUP BY model_version"


def sample_key_expression(seed: int, key_seed: int = 0) -> str:
    """The sample key of a seed from the stored key (the stored key is the id's bits XOR key_seed's mask)."""
    mix = sample_mask(seed) ^ sample_mask(key_seed)
    return "sample_key" if mix == 0 else f"bitwise_xor(sample_key, {mix})"


def sample_query(
    where: str, features: Sequence[str], k: int, seed: int = 0, outputs: Sequence[str] = SAMPLE_OUTPUTS
) -> str:
    """The bottom-k sample every engine takes, in SQL: the k records of smallest (sample key, id), in that order.

    The rule of creditwatch_analytics.sampling.bottom_k, written once in SQL (ties by id, as in Python).
    """
    key = sample_key_expression(seed)
    columns = ", ".join(_ident(c) for c in (*outputs, *features))
    return f"SELECT {columns} FROM predictions WHERE {where} ORDER BY {key}, prediction_id LIMIT {int(k)}"


def reviews_filter(start: datetime, *, partitions: bool) -> str:
    """Review events that can decide a record of a window from start: decided after it began (its dt pruned)."""
    parts = [f"decided_at >= {_ts(start)}"]
    if partitions:
        parts.append(f"dt >= {_str(start.astimezone(UTC).date().isoformat())}")
    return " AND ".join(parts)


def counts_query(where: str, spec: CountSpec, reviews: str | None = None) -> str:
    """One scan: each row's bin per column and group per attribute (-1: missing), counted by GROUPING SETS.

    A result row per (column, bin) and per (attribute, group) with its rows, approvals and P(good) sum,
    and the referred rows, those a reviewer decided and those decided against the model. Every row has a
    key in every set, so the first set's rows add up to the whole window: no grand-total set `()`, which
    beside the DOUBLE sum made DuckDB 2.0 hold memory in proportion to the rows (a week's counts: 1.3 GB
    more, and slower; bench/window_bench.py). With no key at all, one row: the window. With `reviews`
    (a filter on the table or view `review_events`), an approval is the final decision's: the latest reviewer's decision
    per prediction where one decided, the model's elsewhere (a referred case still pending included).
    Measured in DuckDB, a grouping set per column costs about half of one wide row of sum(CASE ...) per bin.
    """
    keys = [b.index_expression() for b in spec.bins] + [g.index_expression() for g in spec.groups]
    names = [f"k{i}" for i in range(len(keys))]
    inner = "".join(f"{k} AS {n}, " for k, n in zip(keys, names, strict=True))
    decision, final = _ident(DECISION), _ident(FINAL_DECISION)
    source = "predictions"
    if reviews is None:
        approved = f"CASE WHEN {decision} = {_str(APPROVE)} THEN 1 ELSE 0 END"
        reviewed = overridden = "0"
    else:
        # max_by: the decision of the latest decided_at (a correction replaces the first decision).
        latest = (
            f"SELECT prediction_id AS reviewed_id, max_by(decision, decided_at) AS {final} "
            f"FROM review_events WHERE {reviews} GROUP BY prediction_id"
        )
        source = f"predictions LEFT JOIN ({latest}) AS rv ON rv.reviewed_id = predictions.prediction_id"
        approved = f"CASE WHEN coalesce({final}, {decision}) = {_str(APPROVE)} THEN 1 ELSE 0 END"
        reviewed = f"CASE WHEN {final} IS NULL THEN 0 ELSE 1 END"
        overridden = f"CASE WHEN {final} IS NOT NULL AND {final} <> {decision} THEN 1 ELSE 0 END"
    referred = f"CASE WHEN {_ident(REFERRAL)} IS NULL THEN 0 ELSE 1 END"
    grouping = f" GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})" if names else ""
    return (
        f"SELECT {''.join(f'{n}, ' for n in names)}count(*) AS n, sum(a) AS a, sum(p) AS p, sum(r) AS r, "
        f"sum(v) AS v, sum(o) AS o "
        f"FROM (SELECT {inner}{approved} AS a, {SCORE} AS p, {referred} AS r, {reviewed} AS v, {overridden} AS o "
        f"FROM {source} WHERE {where}) AS w{grouping}"
    )


def parse_counts(rows: Iterable[Sequence[Any]], spec: CountSpec) -> WindowCounts:
    """The counts query's rows as WindowCounts: the key that is set names the column or attribute.

    The whole window's figures are the first set's rows added up (or the one row, with no key).
    """
    width = len(spec.bins) + len(spec.groups)
    bins = {b.column: [0] * b.size for b in spec.bins}
    groups: dict[str, dict[str, GroupCount]] = {g.attribute: {} for g in spec.groups}
    total = referred = reviewed = overridden = 0
    for row in rows:
        keys, (n, approved, p_sum, r, v, o) = list(row[:width]), row[width : width + 6]
        at = next((i for i, k in enumerate(keys) if k is not None), None)
        if at is None or at == 0:
            total, referred = total + int(n or 0), referred + int(r or 0)
            reviewed, overridden = reviewed + int(v or 0), overridden + int(o or 0)
        if at is None:
            continue
        index = int(keys[at])
        if index < 0:
            continue  # a missing value, or a group no code maps to
        if at < len(spec.bins):
            bins[spec.bins[at].column][index] = int(n)
        else:
            g = spec.groups[at - len(spec.bins)]
            groups[g.attribute][g.groups()[index]] = GroupCount(int(n), int(approved or 0), float(p_sum or 0.0))
    return WindowCounts(total, bins, groups, referred, reviewed, overridden)


@lru_cache(maxsize=64)
def render(sql: str, dialect: Dialect) -> str:
    """The query in a dialect: Trino as written (checked by parsing it), DuckDB through sqlglot."""
    import sqlglot

    if dialect == "trino":
        sqlglot.parse_one(sql, read="trino")
        return sql
    return str(sqlglot.transpile(sql, read="trino", write=dialect)[0])


# ---- the same counts in pandas --------------------------------------------------------------------------


def counts_from_frame(frame: Any, spec: CountSpec) -> WindowCounts:
    """The counts query's figures computed by pandas over a frame of scored rows (columns as in the lake)."""
    import numpy as np
    import pandas as pd

    bins: dict[str, list[int]] = {}
    for b in spec.bins:
        values = frame[b.column] if b.column in frame.columns else pd.Series([], dtype=object)
        present = values.dropna()
        if b.codes is not None:
            index = {c: i for i, c in enumerate(b.codes)}
            at = np.fromiter((index.get(str(v), len(b.codes)) for v in present), dtype=np.int64, count=len(present))
        else:
            numbers = pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=float)
            at = np.searchsorted(np.asarray(b.edges, dtype=float), numbers, side="left")
        bins[b.column] = [int(x) for x in np.bincount(at, minlength=b.size)]
    n = len(frame)
    model = frame[DECISION].to_numpy(dtype=object) if n else np.zeros(0, dtype=object)
    final = frame[FINAL_DECISION].to_numpy(dtype=object) if FINAL_DECISION in frame.columns else np.full(n, None)
    decided = pd.notna(final).astype(bool)
    # The final decision: a reviewer's where one decided the referred case, the model's elsewhere.
    approved = np.where(decided, final == APPROVE, model == APPROVE).astype(bool)
    overridden = int((decided & (final != model)).sum())
    probability = pd.to_numeric(frame[SCORE], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    groups: dict[str, dict[str, GroupCount]] = {}
    for g in spec.groups:
        values = frame[g.column] if g.column in frame.columns else pd.Series([None] * len(frame), dtype=object)
        names = np.array([g.group_of(v) for v in values.tolist()], dtype=object)
        mine = groups.setdefault(g.attribute, {})
        for name in g.groups():
            mask = names == name
            n = int(mask.sum())
            if n:
                mine[name] = GroupCount(n, int(approved[mask].sum()), float(probability[mask].sum()))
    referred = int(frame[REFERRAL].notna().sum()) if REFERRAL in frame.columns else 0
    return WindowCounts(len(frame), bins, groups, referred, int(decided.sum()), overridden)


@dataclass
class CountingStream:
    """Counts rows as they stream by (the dynamodb engine), in chunks counted by pandas like the reference."""

    spec: CountSpec
    chunk: int = 50_000
    counts: WindowCounts = field(default_factory=WindowCounts)
    _buffer: list[dict[str, Any]] = field(default_factory=list)

    def over(self, rows: Iterable[Any]) -> Iterable[Any]:
        """Yield the rows on, counting each (ScoredRow: features, probability, decision, final decision)."""
        columns = {b.column for b in self.spec.bins} | {g.column for g in self.spec.groups}
        for row in rows:
            feats = row.features
            rec = {c: feats.get(c) for c in columns if c not in (SCORE, DECISION, REFERRAL, FINAL_DECISION)}
            rec[SCORE] = row.probability_good_credit
            rec[DECISION] = row.decision
            rec[REFERRAL] = getattr(row, REFERRAL, None)
            rec[FINAL_DECISION] = getattr(row, FINAL_DECISION, None)
            self._buffer.append(rec)
            if len(self._buffer) >= self.chunk:
                self.flush()
            yield row
        self.flush()

    def flush(self) -> None:
        """Count the buffered rows."""
        if not self._buffer:
            return
        import pandas as pd

        frame = pd.DataFrame.from_records(self._buffer)
        self._buffer = []
        self.counts = self.counts + counts_from_frame(frame, self.spec)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _num(value: float | None) -> str:
    return f"CAST({float(value or 0.0)!r} AS DOUBLE)"


def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC'"
