"""The lake's Parquet schema: one typed column per model feature, the outputs and the request's outcome.

No raw request body and no error text: what a rejected request sent stays in the table (and its TTL).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from creditwatch_analytics.sampling import sample_key, sample_mask
from creditwatch_common.records import LEGACY_PROBABILITY, ScoredRow, first_reason_of, referral_text
from creditwatch_model import METADATA_FILE, FeatureSchema, model_dir

SCHEMA_VERSION = 1
# Versions this code reads; an object of any other version fails the read with its key named.
READABLE_VERSIONS = frozenset({1})
SCHEMA_VERSION_KEY = b"creditwatch.schema_version"
FEATURE_SCHEMA_KEY = b"creditwatch.feature_schema"

# The record's own columns, in file order; features follow them.
BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("prediction_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
    # The record's sample key for seed 0 (sampling.sample_key): an hour's rows are sorted by it, so the
    # bottom-k sample of a window reads only the first row group of each hour (statistics skip the rest).
    pa.field("sample_key", pa.int64(), nullable=False),  # 48 bits: a signed 64-bit column every engine reads
    pa.field("request_id", pa.string()),
    pa.field("kind", pa.string()),
    pa.field("route", pa.string()),
    pa.field("method", pa.string()),
    pa.field("status", pa.int16()),
    pa.field("latency_ms", pa.float64()),
    pa.field("model_version", pa.string()),
    pa.field("schema_version", pa.int16(), nullable=False),
    pa.field("error_class", pa.string()),
    pa.field("batch_size", pa.int32()),
    pa.field("batch_index", pa.int32()),
    pa.field("probability_good_credit", pa.float64()),
    pa.field("prediction", pa.int8()),
    pa.field("decision", pa.string()),
    pa.field("risk_level", pa.string()),
    # The champion's first reason, from the record's contributions (explained answers only).
    pa.field("first_reason", pa.string()),
    # Shadow scoring (creditwatch_common.records.CHALLENGER_FIELDS): null where no challenger was set.
    pa.field("challenger_version", pa.string()),
    pa.field("challenger_probability_good_credit", pa.float64()),
    pa.field("challenger_decision", pa.string()),
    pa.field("challenger_first_reason", pa.string()),
    # The rules that referred the application to a reviewer, comma-joined (null: answered by the model).
    pa.field("referral", pa.string()),
)
BASE_NAMES = tuple(f.name for f in BASE_FIELDS)
# What the export reads from the table: every attribute the schema keeps (never raw_body or error_detail).
TABLE_ATTRIBUTES = (
    *(n for n in BASE_NAMES if n not in ("schema_version", "sample_key", "first_reason")),
    "features",
    "contributions",
    LEGACY_PROBABILITY,
)
# Columns an older object lacks, with the SQL type each reads as there (a read names them: lake.read).
SHADOW_COLUMNS = {
    "first_reason": "VARCHAR",
    "challenger_version": "VARCHAR",
    "challenger_probability_good_credit": "DOUBLE",
    "challenger_decision": "VARCHAR",
    "challenger_first_reason": "VARCHAR",
}
# ScoredRow's optional columns, read when a sample holds them.
ROW_EXTRAS = ("ts", *SHADOW_COLUMNS)
# Columns only a window's counts read (lake.sql.counts_query), with the type an older object reads them as.
COUNT_COLUMNS = {"referral": "VARCHAR"}
# The seed whose sample order the files keep (DRIFT_SAMPLE_SEED's default).
SAMPLE_KEY_SEED = 0
_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "category": pa.string()}


class FeatureLike(Protocol):
    """What the lake needs of a model feature (creditwatch_model.Feature fits)."""

    @property
    def name(self) -> str:
        """The column name."""
        ...

    @property
    def dtype(self) -> str:
        """int, float or category."""
        ...


class LakeError(Exception):
    """An object of the lake cannot be read (not Parquet, or a schema version this code does not know)."""


def not_parquet(key: str, exc: Exception) -> LakeError:
    """The error for an object Parquet readers refuse: its key named, with the reader's reason."""
    return LakeError(f"s3 object {key}: not a valid Parquet file ({exc})")


@dataclass(frozen=True)
class LakeSchema:
    """The Parquet schema of one feature set."""

    features: tuple[tuple[str, str], ...]  # (name, dtype) in model order

    @classmethod
    def of(cls, features: Iterable[FeatureLike]) -> LakeSchema:
        """From the model's features; a feature named like a record column is refused."""
        pairs = tuple((f.name, f.dtype) for f in features)
        clash = {n for n, _ in pairs} & set(BASE_NAMES)
        if clash:
            raise ValueError(f"feature names clash with lake columns: {sorted(clash)}")
        return cls(features=pairs)

    @property
    def feature_names(self) -> list[str]:
        """Feature columns in model order."""
        return [n for n, _ in self.features]

    @property
    def arrow(self) -> pa.Schema:
        """The schema, with its version in the file metadata too (read before any row)."""
        fields = [*BASE_FIELDS, *(pa.field(n, _ARROW_TYPES.get(t, pa.string())) for n, t in self.features)]
        meta = {SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode(), FEATURE_SCHEMA_KEY: repr(self.features).encode()}
        return pa.schema(fields, metadata=meta)

    def table(self, records: Sequence[dict[str, Any]]) -> pa.Table:
        """Plain record values (as the table holds them) as an Arrow table of this schema."""
        columns: dict[str, list[Any]] = {n: [] for n in (*BASE_NAMES, *self.feature_names)}
        casts = {n: _cast_of(t) for n, t in self.features}
        for r in records:
            for name in BASE_NAMES:
                columns[name].append(r.get(name))
            columns["first_reason"][-1] = r.get("first_reason") or first_reason_of(
                r.get("features"), r.get("contributions")
            )
            feats = r.get("features") or {}
            for name, cast in casts.items():
                columns[name].append(cast(feats.get(name)))
        columns["ts"] = [_parse_ts(v) for v in columns["ts"]]
        columns["schema_version"] = [SCHEMA_VERSION] * len(records)
        mask = sample_mask(SAMPLE_KEY_SEED)
        columns["sample_key"] = [sample_key(str(pid), mask) for pid in columns["prediction_id"]]
        columns["status"] = [_int(v) for v in columns["status"]]
        columns["prediction"] = [_int(v) for v in columns["prediction"]]
        for name in ("latency_ms", "probability_good_credit", "challenger_probability_good_credit"):
            columns[name] = [_float(v) for v in columns[name]]
        for name in ("batch_size", "batch_index"):
            columns[name] = [_int(v) for v in columns[name]]
        columns["referral"] = [referral_text(v) for v in columns["referral"]]
        return pa.table(columns, schema=self.arrow)


def check_version(metadata: dict[bytes, bytes] | None, key: str) -> int:
    """The schema version a file's metadata names; LakeError (naming the key) if unknown or absent."""
    raw = (metadata or {}).get(SCHEMA_VERSION_KEY)
    try:
        version = int(raw) if raw is not None else None
    except ValueError:
        version = None
    if version not in READABLE_VERSIONS:
        shown = raw.decode(errors="replace") if raw is not None else "none"
        raise LakeError(
            f"s3 object {key}: lake schema version {shown} is not one this code reads {sorted(READABLE_VERSIONS)}"
        )
    return version


def scored_rows(table: pa.Table, feature_names: Sequence[str]) -> list[ScoredRow]:
    """Lake rows as the rows the drift job reads from the table (features as a dict)."""
    present = [n for n in feature_names if n in table.column_names]
    cols = {
        n: table.column(n).to_pylist() if n in table.column_names else [None] * table.num_rows
        for n in ("prediction_id", "probability_good_credit", "decision", "model_version", *ROW_EXTRAS)
    }
    feats = [table.column(n).to_pylist() for n in present]
    out = []
    for i, pid in enumerate(cols["prediction_id"]):
        features = {n: col[i] for n, col in zip(present, feats, strict=True) if col[i] is not None}
        out.append(
            ScoredRow(
                prediction_id=pid,
                features=features,
                probability_good_credit=cols["probability_good_credit"][i],
                decision=cols["decision"][i],
                model_version=cols["model_version"][i] or "unknown",
                ts=_text(cols["ts"][i]),
                first_reason=cols["first_reason"][i],
                challenger_version=cols["challenger_version"][i],
                challenger_probability_good_credit=cols["challenger_probability_good_credit"][i],
                challenger_decision=cols["challenger_decision"][i],
                challenger_first_reason=cols["challenger_first_reason"][i],
            )
        )
    return out


def _text(value: Any) -> str | None:
    """A timestamp as ScoredRow keeps it (ISO 8601 text)."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


def _parse_ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int_feature(value: Any) -> int | None:
    # A logged value that is not a whole number (a rejected request's input) is not this column's type.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if math.isfinite(f) and f.is_integer() else None
    return None


def _float_feature(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _str_feature(value: Any) -> str | None:
    return None if value is None else str(value)


def _cast_of(dtype: str) -> Any:
    return {"int": _int_feature, "float": _float_feature}.get(dtype, _str_feature)


def feature_schema() -> FeatureSchema:
    """The model's feature schema, from its metadata alone (the forest is not needed here)."""
    metadata = json.loads((model_dir() / METADATA_FILE).read_text())
    return FeatureSchema.from_dict(metadata["feature_schema"])
