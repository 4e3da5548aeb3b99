"""A random forest packed into flat numpy arrays, scored without scikit-learn."""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

# Fixed zip timestamp so that the same forest always gives the same bytes (and model version).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_BLOCK_ROWS = 256
_WRAP: Literal["wrap"] = "wrap"
_FIELDS = ("feature", "threshold", "left", "right", "value", "roots")


@dataclass(frozen=True)
class PackedForest:
    """All trees' nodes in one set of arrays; leaves point to themselves."""

    feature: IntArray
    threshold: FloatArray
    left: IntArray
    right: IntArray
    value: FloatArray  # P(good) at each leaf
    roots: IntArray
    depth: int

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.roots.shape[0])

    def predict_good(self, x: FloatArray) -> FloatArray:
        """P(good) for each row of an encoded matrix, as scikit-learn computes it."""
        # scikit-learn's trees compare float32 inputs against float64 thresholds: the float32 thresholds
        # at or below them (_doubled) put every split on the same side, at half the bytes read.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if x32.shape[0] <= _BLOCK_ROWS:
            return self._predict_block(x32)
        # Blocks keep the per-level index arrays (rows x trees) within the CPU caches: ~1.6x faster
        # than one pass over a 1,000-row batch (bench/predict_bench.py).
        return np.concatenate(
            [self._predict_block(x32[s : s + _BLOCK_ROWS]) for s in range(0, x32.shape[0], _BLOCK_ROWS)]
        )

    def _predict_block(self, x32: npt.NDArray[np.float32]) -> FloatArray:
        n, n_features = x32.shape
        flat_x = x32.ravel()
        feature, threshold, children, value, roots = self._doubled
        # Nodes are walked by their doubled index 2i, so the next one is children[2i + went_right]:
        # one add and one flat `take` per level for all rows and trees at once.
        row_offset = (np.arange(n, dtype=np.intp) * n_features)[:, None]
        # Every row starts at the roots: the first level compares whole columns, no index arithmetic.
        node = children.take(roots + (x32.take(feature.take(roots), axis=1) > threshold.take(roots)))
        # mode="wrap": every index is in range, and numpy's wrapping take skips the raising one's checks
        # (~20% of the walk, bench/predict_bench.py).
        for _ in range(self.depth - 1):
            went_right = flat_x.take(row_offset + feature.take(node, mode=_WRAP), mode=_WRAP) > threshold.take(
                node, mode=_WRAP
            )
            node = children.take(node + went_right, mode=_WRAP)
        result: FloatArray = value.take(node, mode=_WRAP).sum(axis=1) / self.n_trees
        return result

    @functools.cached_property
    def _doubled(
        self,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32], npt.NDArray[np.intp], FloatArray, npt.NDArray[np.intp]]:
        """Feature, float32 threshold, children (doubled), leaf value and roots (doubled), indexed by 2i."""
        children = np.stack([self.left, self.right], axis=1).ravel().astype(np.intp) * 2
        return (
            np.repeat(self.feature.astype(np.intp), 2),
            np.repeat(float32_at_or_below(self.threshold), 2),
            children,
            np.repeat(self.value, 2),
            self.roots.astype(np.intp) * 2,
        )

    def save(self, path: Path) -> None:
        """Write a deterministic .npz (same forest, same bytes)."""
        arrays = {name: getattr(self, name) for name in _FIELDS}
        arrays["depth"] = np.asarray([self.depth], dtype=np.int32)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in (*_FIELDS, "depth"):
                buf = io.BytesIO()
                np.save(buf, arrays[name], allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> PackedForest:
        """Read a forest written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                feature=data["feature"].astype(np.int32),
                threshold=data["threshold"].astype(np.float64),
                left=data["left"].astype(np.int32),
                right=data["right"].astype(np.int32),
                value=data["value"].astype(np.float64),
                roots=data["roots"].astype(np.int32),
                depth=int(data["depth"][0]),
            )


def float32_at_or_below(thresholds: FloatArray) -> npt.NDArray[np.float32]:
    """The largest float32 at or below each threshold: a float32 value exceeds one exactly when it exceeds the other."""
    below = thresholds.astype(np.float32)
    return np.where(below.astype(np.float64) > thresholds, np.nextafter(below, np.float32(-np.inf)), below)
