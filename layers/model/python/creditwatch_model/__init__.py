"""The credit model as Lambda sees it: schema, metadata and a numpy-only scorer."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from creditwatch_model.forest import FloatArray, PackedForest
from creditwatch_model.schema import Feature, FeatureSchema

if TYPE_CHECKING:
    # Explanations are imported on first use: the predict function's cold start never pays for them.
    from creditwatch_model.explain import ForestCover, PathTables, Reason

__all__ = [
    "ARTIFACTS_DIR",
    "CreditModel",
    "Feature",
    "FeatureSchema",
    "PackedForest",
    "Score",
    "confidence_level",
    "load_model",
    "risk_level",
]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
METADATA_FILE = "metadata.json"
FOREST_FILE = "forest.npz"
REFERENCE_FILE = "reference.csv"
PIPELINE_FILE = "pipeline.joblib"
EXPLAIN_FILE = "explain.npz"
REFERENCE_CONTRIBUTIONS_FILE = "reference_contributions.csv"


def risk_level(p_good: float, bands: Mapping[str, float]) -> str:
    """LOW if P(good) >= bands['low'], MEDIUM if >= bands['medium'], else HIGH (seed 001)."""
    if p_good >= bands["low"]:
        return "LOW"
    if p_good >= bands["medium"]:
        return "MEDIUM"
    return "HIGH"


def confidence_level(p_good: float) -> str:
    """Seed 000's confidence: HIGH beyond 0.3/0.7, MEDIUM in 0.3-0.4 or 0.6-0.7, LOW within 0.4-0.6."""
    distance = abs(p_good - 0.5)
    if distance > 0.2:
        return "HIGH"
    if distance > 0.1:
        return "MEDIUM"
    return "LOW"


class Score(NamedTuple):
    """The model's answer for one application (a NamedTuple: immutable and cheap to build in bulk)."""

    probability_good_credit: float
    probability_bad_credit: float
    prediction: int
    decision: str
    risk_level: str
    confidence: str


# What a batch's vectorised score() picks its strings from (the same objects for every row).
_DECISIONS = np.array(["refuse", "approve"], dtype=object)
_LEVELS = np.array(["LOW", "MEDIUM", "HIGH"], dtype=object)

# Up to this many rows, encode() loops over rows; beyond, over columns (see _encode_columns).
_ROW_WISE_MAX = 16


class CreditModel:
    """Encodes applications with the schema and scores them with the packed forest."""

    def __init__(self, metadata: dict[str, Any], forest: PackedForest, cover: ForestCover | Path | None = None) -> None:
        self.metadata = metadata
        self.forest = forest
        # Covers (or where to read them) stay untouched until the first explanation: scoring never pays.
        self._cover = cover
        self.schema = FeatureSchema.from_dict(metadata["feature_schema"])
        self.version: str = metadata["version"]
        self.name: str = metadata["name"]
        self.threshold: float = float(metadata["decision"]["threshold"])
        self.risk_bands: dict[str, float] = dict(metadata["risk_bands"])
        # Precompute column positions: numerical then ordinal values, then one-hot blocks.
        self._width = self.schema.encoded_width()
        self._numeric: list[tuple[str, int]] = []
        self._ordinal: list[tuple[str, int, dict[str, int]]] = []
        self._nominal: list[tuple[str, dict[str, int]]] = []
        col = 0
        for f in self.schema.by_kind("numerical"):
            self._numeric.append((f.name, col))
            col += 1
        for f in self.schema.by_kind("ordinal"):
            self._ordinal.append((f.name, col, {c: i for i, c in enumerate(f.codes)}))
            col += 1
        for f in self.schema.by_kind("nominal"):
            self._nominal.append((f.name, {c: col + i for i, c in enumerate(f.codes)}))
            col += len(f.codes)
        self._explainer: PathTables | None = None

    def encode(
        self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Sequence[Any]] | None = None
    ) -> FloatArray:
        """Encode validated rows (feature name -> value) into the model's input matrix.

        `columns`: the same rows' values by feature name, a column at a time, when the caller has them
        (a batch's validation does): read instead of the rows, at half the cost for a batch.
        """
        if columns is not None:
            return self._encode_columns(columns, len(rows))
        if len(rows) > _ROW_WISE_MAX:
            return self._encode_columns({name: [row[name] for row in rows] for name in self.schema.names}, len(rows))
        # Plain lists, one numpy conversion at the end: the cheapest for a request's single row.
        width = self._width
        out = []
        for row in rows:
            xi = [0.0] * width
            for name, col in self._numeric:
                xi[col] = float(row[name])
            for name, col, codes in self._ordinal:
                xi[col] = float(codes[row[name]])
            for name, positions in self._nominal:
                xi[positions[row[name]]] = 1.0
            out.append(xi)
        return np.array(out, dtype=np.float64).reshape(len(rows), width)

    def _encode_columns(self, columns: Mapping[str, Sequence[Any]], n: int) -> FloatArray:
        # A column at a time, one numpy assignment each: half the cost of the row loop for a
        # 1,000-row batch, but a fixed ~20 us that a single row does not repay.
        out = np.zeros((n, self._width), dtype=np.float64)
        for name, col in self._numeric:
            out[:, col] = np.fromiter(columns[name], dtype=np.float64, count=n)
        for name, col, codes in self._ordinal:
            out[:, col] = np.fromiter(map(codes.__getitem__, columns[name]), dtype=np.float64, count=n)
        # Each one-hot block set through the flat matrix: a row's start plus its code's column.
        flat, row_start = out.ravel(), np.arange(0, n * self._width, self._width)
        for name, positions in self._nominal:
            flat[row_start + np.fromiter(map(positions.__getitem__, columns[name]), dtype=np.intp, count=n)] = 1.0
        return out

    def predict_good(
        self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Sequence[Any]] | None = None
    ) -> FloatArray:
        """P(good credit) for each row (`columns`: as encode() takes them)."""
        return self.forest.predict_good(self.encode(rows, columns))

    def score(
        self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Sequence[Any]] | None = None
    ) -> list[Score]:
        """Full answers (probabilities, decision, risk, confidence) for each row (`columns`: as encode() takes them)."""
        p = self.predict_good(rows, columns)
        if len(p) <= _ROW_WISE_MAX:
            return [self._score(q) for q in p.tolist()]
        # A column at a time for a batch: the comparisons and the IEEE subtraction of _score, in numpy.
        approve = p >= self.threshold
        low, medium = self.risk_bands["low"], self.risk_bands["medium"]
        risk = np.where(p >= low, 0, np.where(p >= medium, 1, 2))
        distance = np.abs(p - 0.5)
        confidence = np.where(distance > 0.2, 2, np.where(distance > 0.1, 1, 0))
        # tuple.__new__ of each row's fields: a NamedTuple's own __new__ is a Python call per row.
        return list(
            map(
                tuple.__new__,
                itertools.repeat(Score),
                zip(
                    p.tolist(),
                    (1.0 - p).tolist(),
                    approve.astype(np.int64).tolist(),
                    _DECISIONS.take(approve.astype(np.intp)).tolist(),
                    _LEVELS.take(risk).tolist(),
                    _LEVELS.take(confidence).tolist(),
                    strict=True,
                ),
            )
        )

    def _score(self, p: float) -> Score:
        approve = p >= self.threshold
        return Score(
            probability_good_credit=p,
            probability_bad_credit=1.0 - p,
            prediction=1 if approve else 0,
            decision="approve" if approve else "refuse",
            risk_level=risk_level(p, self.risk_bands),
            confidence=confidence_level(p),
        )

    @property
    def column_feature(self) -> npt.NDArray[np.intp]:
        """For each encoded column, the index of its feature in `schema.names`."""
        index = {name: i for i, name in enumerate(self.schema.names)}
        out = np.zeros(self._width, dtype=np.intp)
        for name, col in self._numeric:
            out[col] = index[name]
        for name, col, _ in self._ordinal:
            out[col] = index[name]
        for name, positions in self._nominal:
            out[list(positions.values())] = index[name]
        return out

    @property
    def cover(self) -> ForestCover | Path | None:
        """The covers explanations need (or where to read them), as the model was loaded with."""
        return self._cover

    @property
    def explainer(self) -> PathTables:
        """The per-path Shapley tables, built on first use (~0.1 s) from the forest and its covers."""
        if self._explainer is None:
            from creditwatch_model.explain import ForestCover, PathTables

            if self._cover is None:
                raise RuntimeError("this model was loaded without covers: explanations need explain.npz")
            cover = ForestCover.load(self._cover) if isinstance(self._cover, Path) else self._cover
            self._explainer = PathTables(self.forest, cover, self.column_feature)
        return self._explainer

    def explain(self, rows: Sequence[Mapping[str, Any]]) -> tuple[float, FloatArray]:
        """Base value and each row's exact TreeSHAP contributions to P(good), per feature of `schema.names`.

        base_value + contributions[i].sum() equals predict_good(rows)[i] (to ~1e-15).
        """
        tables = self.explainer
        return tables.base_value, tables.contributions(self.encode(rows))

    def reasons(self, row: Mapping[str, Any], contributions: FloatArray, limit: int = 4) -> list[Reason]:
        """Up to `limit` features that lowered this row's P(good), most negative first."""
        from creditwatch_model.explain import reasons

        return reasons(self.schema, row, contributions, limit)


def model_dir() -> Path:
    """Where the artifacts are: $MODEL_DIR, else the package's own artifacts folder."""
    return Path(os.environ.get("MODEL_DIR") or ARTIFACTS_DIR)


@lru_cache(maxsize=4)
def load_model(directory: str | None = None) -> CreditModel:
    """Load metadata and forest once per process."""
    path = Path(directory) if directory else model_dir()
    metadata = json.loads((path / METADATA_FILE).read_text())
    return CreditModel(metadata, PackedForest.load(path / FOREST_FILE), cover=path / EXPLAIN_FILE)
