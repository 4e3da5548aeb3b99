"""Exact path-dependent TreeSHAP for the packed forest, in numpy, from per-path tables.

The definition is shap.TreeExplainer's default for a random forest (feature_perturbation=
"tree_path_dependent"): for each tree, the value of a coalition S is the expected leaf value when the
features in S follow the applicant and the others split by node cover (training sample weight); the
forest's contributions are the trees' Shapley values averaged, on the P(good) scale.

Each leaf of a tree contributes a game of its own whose players are the d distinct encoded columns
on its root-to-leaf path; that game depends on the applicant only through which of the d interval
conditions the applicant meets. So every path's Shapley values can be tabulated once for all 2^d
patterns (the idea of FastTreeSHAP v2), and explaining a row is a comparison per path condition and
a table lookup per path, with no per-row recursion.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from creditwatch_model.forest import FloatArray, PackedForest
from creditwatch_model.schema import FeatureSchema

__all__ = ["ForestCover", "PathTables", "Reason", "first_reason", "reasons", "reasons_from_record"]

# Same fixed zip timestamp as forest.npz: the same training gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Rows explained together: the per-block lookup matrices (rows x path slots) stay a few MB.
_BLOCK_ROWS = 32
MAX_REASONS = 4


@dataclass(frozen=True)
class ForestCover:
    """What explanations need beyond the scorer: each node's cover and each tree's root value."""

    cover: FloatArray  # weighted training samples through each node of the packed forest
    root_value: FloatArray  # P(good) at each tree's root, as scikit-learn stores it

    def save(self, path: Path) -> None:
        """Write a deterministic .npz (same covers, same bytes)."""
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in ("cover", "root_value"):
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(getattr(self, name), dtype=np.float64), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> ForestCover:
        """Read covers written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(cover=data["cover"].astype(np.float64), root_value=data["root_value"].astype(np.float64))


@dataclass(frozen=True)
class _Paths:
    """Every root-to-leaf path as slots: one per distinct encoded column on the path."""

    path_of_slot: npt.NDArray[np.intp]
    column: npt.NDArray[np.intp]
    lower: FloatArray  # the applicant meets the slot's conditions when lower < x <= upper
    upper: FloatArray
    zero_fraction: FloatArray  # product of cover ratios along the slot's edges
    leaf_value: FloatArray  # per path
    width: npt.NDArray[np.intp]  # distinct columns per path


def _paths(forest: PackedForest, cover: FloatArray) -> _Paths:
    """Walk every tree once and describe each leaf's path by its distinct columns."""
    feature = forest.feature.tolist()
    threshold = forest.threshold.tolist()
    left = forest.left.tolist()
    right = forest.right.tolist()
    cov = cover.tolist()
    path_of_slot: list[int] = []
    column: list[int] = []
    lower: list[float] = []
    upper: list[float] = []
    zero: list[float] = []
    leaf_value: list[float] = []
    width: list[int] = []
    for root in forest.roots.tolist():
        # Depth-first with each node's path so far: {column: [lower, upper, zero_fraction]}.
        stack: list[tuple[int, dict[int, list[float]]]] = [(root, {})]
        while stack:
            node, conditions = stack.pop()
            if left[node] == node:
                p = len(leaf_value)
                for col, (lo, hi, z) in conditions.items():
                    path_of_slot.append(p)
                    column.append(col)
                    lower.append(lo)
                    upper.append(hi)
                    zero.append(z)
                leaf_value.append(float(forest.value[node]))
                width.append(len(conditions))
                continue
            col, t = feature[node], threshold[node]
            for child, went_right in ((right[node], True), (left[node], False)):
                lo, hi, z = conditions.get(col, [-math.inf, math.inf, 1.0])
                if went_right:
                    lo = max(lo, t)
                else:
                    hi = min(hi, t)
                # shap multiplies a repeated feature's cover ratios along the path ("unwind" then extend).
                stack.append((child, {**conditions, col: [lo, hi, z * cov[child] / cov[node]]}))
    return _Paths(
        path_of_slot=np.asarray(path_of_slot, dtype=np.intp),
        column=np.asarray(column, dtype=np.intp),
        lower=np.asarray(lower, dtype=np.float64),
        upper=np.asarray(upper, dtype=np.float64),
        zero_fraction=np.asarray(zero, dtype=np.float64),
        leaf_value=np.asarray(leaf_value, dtype=np.float64),
        width=np.asarray(width, dtype=np.intp),
    )


def _shapley_tables(zero_fraction: FloatArray, value: FloatArray) -> FloatArray:
    """Shapley values of paths with d players each, for all 2^d patterns: (paths, 2^d, d).

    Pattern b has bit k set when the applicant meets slot k's conditions (one fraction 1, else 0).
    Player k gets value * (o_k - z_k) * prod(z over unmet others) * F(met others), with
    F(A) = sum over S in A of |S|!(d-|S|-1)!/d! * prod(z over A minus S), a weighted sum of the
    coefficients of prod over A of (y + z_j), built for every subset A by adding one bit at a time.
    """
    n_paths, d = zero_fraction.shape
    size = 1 << d
    zprod = np.ones((n_paths, size))
    poly = np.zeros((n_paths, size, d + 1))
    poly[:, 0, 0] = 1.0
    for j in range(d):
        lo, hi = 1 << j, 2 << j
        z = zero_fraction[:, j, None]
        zprod[:, lo:hi] = zprod[:, :lo] * z
        poly[:, lo:hi, 1:] = poly[:, :lo, :-1]
        poly[:, lo:hi, :] += z[:, :, None] * poly[:, :lo, :]
    weights = np.array([math.factorial(s) * math.factorial(d - 1 - s) / math.factorial(d) for s in range(d)] + [0.0])
    f = poly @ weights
    patterns = np.arange(size)
    full = size - 1
    out = np.empty((n_paths, size, d))
    for k in range(d):
        bit = 1 << k
        met = ((patterns & bit) != 0).astype(np.float64)
        others_met = patterns & ~bit
        others_unmet = ~patterns & full & ~bit
        out[:, :, k] = (
            value[:, None] * (met[None, :] - zero_fraction[:, k, None]) * zprod[:, others_unmet] * f[:, others_met]
        )
    return out


def _float32_at_most(t: FloatArray) -> npt.NDArray[np.float32]:
    """The largest float32 <= t: for a float32 x, x <= t exactly when x <= this (and x > t likewise)."""
    t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


class PathTables:
    """Every path's Shapley values for every pattern of met conditions, summed per schema feature."""

    def __init__(self, forest: PackedForest, cover: ForestCover, column_feature: npt.NDArray[np.intp]) -> None:
        n_features = int(column_feature.max()) + 1
        paths = _paths(forest, cover.cover)
        scale = 1.0 / forest.n_trees
        self.n_features = n_features
        self.n_paths = int(paths.width.shape[0])
        # shap's expected value: the trees' root values, each scaled by 1/n_trees, summed.
        self.base_value = float(np.sum(cover.root_value * scale))

        # Paths ordered by width: each width's slots form one (paths x width) block, whose met
        # conditions become pattern numbers in one product, and whose tables are built together.
        old_starts = np.concatenate([[0], np.cumsum(paths.width)[:-1]]).astype(np.intp)
        order = np.argsort(paths.width, kind="stable")
        width = paths.width[order]
        slots = np.concatenate([old_starts[p] + np.arange(paths.width[p]) for p in order.tolist()]).astype(np.intp)
        column = paths.column[slots]
        zero_fraction = paths.zero_fraction[slots]
        leaf_value = paths.leaf_value[order] * scale
        starts = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.intp)

        # Each path's distinct schema features, ascending, are its output slots.
        slot_feature = column_feature[column]
        slot_out = np.zeros(slot_feature.shape[0], dtype=np.intp)
        out_width = np.zeros(self.n_paths, dtype=np.intp)
        out_feature: list[npt.NDArray[np.intp]] = []
        for p in range(self.n_paths):
            s = slice(starts[p], starts[p] + width[p])
            feats, inverse = np.unique(slot_feature[s], return_inverse=True)
            slot_out[s] = inverse
            out_width[p] = feats.shape[0]
            out_feature.append(feats.astype(np.intp))

        offset = np.zeros(self.n_paths, dtype=np.intp)
        chunks: list[FloatArray] = []
        self._groups: list[tuple[int, int, int, int]] = []  # (width, first path, paths, first slot)
        position = 0
        for d in sorted(set(width.tolist())):
            members = np.flatnonzero(width == d)
            self._groups.append((d, int(members[0]), int(members.shape[0]), int(starts[members[0]])))
            if d == 0:
                continue  # a single-leaf tree: its value is all base value, nothing to attribute
            grid = starts[members][:, None] + np.arange(d)[None, :]
            phi = _shapley_tables(zero_fraction[grid], leaf_value[members])
            # Sum the slots (encoded columns) of one schema feature: one-hot columns add back up.
            w = int(out_width[members].max())
            onehot = np.zeros((members.shape[0], d, w))
            onehot[np.arange(members.shape[0])[:, None], np.arange(d)[None, :], slot_out[grid]] = 1.0
            summed = np.einsum("pbk,pkq->pbq", phi, onehot)
            valid = np.arange(w)[None, :] < out_width[members][:, None]
            sizes = (1 << d) * out_width[members]
            offset[members] = position + np.concatenate([[0], np.cumsum(sizes)[:-1]])
            position += int(sizes.sum())
            chunks.append(summed[np.broadcast_to(valid[:, None, :], summed.shape)])
        self.table: FloatArray = np.concatenate(chunks) if chunks else np.zeros(0)

        self._slot_column = column
        self._slot_lower = _float32_at_most(paths.lower[slots])
        self._slot_upper = _float32_at_most(paths.upper[slots])
        self._path_stride = out_width.astype(np.int32)
        # Output slots sorted by schema feature, so that one reduceat sums each feature's lookups.
        out_path = np.repeat(np.arange(self.n_paths, dtype=np.intp), out_width)
        out_rank = np.concatenate([np.arange(c) for c in out_width.tolist()]).astype(np.intp)
        feature_of_out = np.concatenate(out_feature) if out_feature else np.zeros(0, dtype=np.intp)
        by_feature = np.argsort(feature_of_out, kind="stable")
        self._out_path = out_path[by_feature]
        self._out_base = (offset[out_path] + out_rank)[by_feature].astype(np.int32)
        sorted_feature = feature_of_out[by_feature]
        self._features_present = np.unique(sorted_feature)
        self._feature_starts = np.searchsorted(sorted_feature, self._features_present).astype(np.intp)

    @property
    def nbytes(self) -> int:
        """Memory held by the tables and lookup arrays."""
        arrays: list[Any] = [
            self.table,
            self._slot_column,
            self._slot_lower,
            self._slot_upper,
            self._path_stride,
            self._out_path,
            self._out_base,
        ]
        return int(sum(a.nbytes for a in arrays))

    def contributions(self, x: FloatArray) -> FloatArray:
        """Per-feature contributions to P(good) for each row of an encoded matrix: (rows, features)."""
        # The trees compare float32 inputs (as scikit-learn does); bounds are float32 rounded down.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if x32.shape[0] <= _BLOCK_ROWS:
            return self._block(x32)
        return np.concatenate([self._block(x32[s : s + _BLOCK_ROWS]) for s in range(0, x32.shape[0], _BLOCK_ROWS)])

    def _block(self, x32: npt.NDArray[np.float32]) -> FloatArray:
        n = x32.shape[0]
        values = x32[:, self._slot_column]
        met = ((values > self._slot_lower) & (values <= self._slot_upper)).view(np.uint8)
        # Pattern number of each path (bit k: slot k met), one product per width, pre-multiplied by the
        # path's row length in the table.
        pattern = np.zeros((n, self.n_paths), dtype=np.int32)
        for d, first, count, slot in self._groups:
            if d:
                block = met[:, slot : slot + count * d].reshape(n, count, d)
                pattern[:, first : first + count] = block @ (np.int32(1) << np.arange(d, dtype=np.int32))
        pattern *= self._path_stride
        looked_up = self.table.take(self._out_base + pattern[:, self._out_path])
        out = np.zeros((n, self.n_features))
        out[:, self._features_present] = np.add.reduceat(looked_up, self._feature_starts, axis=1)
        return out


class Reason(TypedDict):
    """One feature that lowered P(good), as an applicant-facing reason."""

    feature: str
    label: str
    value: Any
    meaning: str | None
    contribution: float


def reasons(schema: FeatureSchema, row: Any, contributions: Any, limit: int = MAX_REASONS) -> list[Reason]:
    """Up to `limit` features that lowered P(good) for one row, most negative first."""
    values = [float(c) for c in contributions]
    if len(values) != len(schema.features):
        raise ValueError(f"expected {len(schema.features)} contributions, got {len(values)}")
    # Ties keep the schema's order, so the same row always gives the same reasons.
    lowering = sorted((c, i) for i, c in enumerate(values) if c < 0.0)
    out: list[Reason] = []
    for contribution, i in lowering[:limit]:
        f = schema.features[i]
        value = row[f.name]
        out.append(
            Reason(
                feature=f.name,
                label=f.alias,
                value=value,
                meaning=f.codes.get(str(value)) if f.is_categorical else None,
                contribution=contribution,
            )
        )
    return out


def reasons_from_record(schema: FeatureSchema, record: Mapping[str, Any], limit: int = MAX_REASONS) -> list[Reason]:
    """The reasons of one logged prediction, rebuilt from its `features` and `contributions` alone."""
    features, contributions = record.get("features"), record.get("contributions")
    # The log stores both as compact JSON text; a decoded record (creditwatch log get) holds them parsed.
    if isinstance(features, str):
        features = json.loads(features)
    if isinstance(contributions, str):
        contributions = json.loads(contributions)
    if not features or contributions is None:
        raise ValueError("the record has no features or no contributions: it was not explained")
    return reasons(schema, features, contributions, limit)


def first_reason(schema: FeatureSchema, contributions: FloatArray) -> list[str]:
    """The most lowering feature of each row (its name), or "" when nothing lowered P(good)."""
    names = schema.names
    lowest = np.argmin(contributions, axis=1)
    return [names[i] if contributions[r, i] < 0.0 else "" for r, i in enumerate(lowest.tolist())]
