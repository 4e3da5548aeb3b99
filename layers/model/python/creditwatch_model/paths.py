"""A cheap first reason: path attribution (Saabas' method, scikit-learn's `treeinterpreter`), scored in the same walk.

Each split an applicant passes moves the tree's expected P(good) from the node's value to the child's
(node values: the cover-weighted mean of their leaves); the move is credited to the split's feature,
summed per schema feature and averaged over trees. The contributions add up to P(good) less the forest's
mean root value, like TreeSHAP's, but need no Shapley tables: the values are one bottom-up pass over the
nodes at load (~1 ms), and a row costs one walk of the forest (~0.06 ms for one row, where scoring and
TreeSHAP cost ~0.05 + 0.14 ms and the tables ~135 ms to build). On the shipped model its most lowering
feature is TreeSHAP's for 88% of the data set's rows (bench/predict_bench.py prints the agreement).
The shadow challenger's first reason comes from here (creditwatch_predict.shadow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from creditwatch_model.forest import FloatArray

if TYPE_CHECKING:
    from creditwatch_model import CreditModel
    from creditwatch_model.explain import ForestCover


class PathAttribution:
    """P(good) and each schema feature's path contribution for encoded rows, in one walk of the forest."""

    def __init__(self, model: CreditModel, cover: ForestCover) -> None:
        forest = model.forest
        n = forest.value.shape[0]
        self.n_trees = forest.n_trees
        self.depth = forest.depth
        self.n_features = len(model.schema.names)
        self.names = list(model.schema.names)
        left, right = forest.left.astype(np.intp), forest.right.astype(np.intp)
        internal = np.flatnonzero(left != np.arange(n))
        c = cover.cover
        if c.shape[0] != n:
            raise ValueError(f"covers for {c.shape[0]} nodes, forest of {n}")
        # A node's value is its leaves' mean weighted by cover: one pass per level, bottom-up.
        value = forest.value.astype(np.float64).copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            for _ in range(forest.depth):
                mixed = (c[left[internal]] * value[left[internal]] + c[right[internal]] * value[right[internal]]) / c[
                    internal
                ]
                value[internal] = np.where(c[internal] > 0, mixed, value[internal])
        self.value = value
        self.left, self.right = left, right
        self.threshold = forest.threshold
        self.feature = np.clip(forest.feature.astype(np.intp), 0, None)  # a leaf's feature is never read
        # The schema feature of each node's split (leaves point to themselves: their moves are 0).
        self.node_feature = model.column_feature[self.feature]
        self.roots = forest.roots.astype(np.intp)
        doubled = np.stack([left, right], axis=1).ravel() * 2
        self._doubled = (np.repeat(self.feature, 2), np.repeat(self.threshold, 2), doubled)
        self.base_value = float(value[self.roots].mean())

    def walk(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """P(good) of each row and its contributions (rows x schema features), as scikit-learn splits."""
        x64 = np.ascontiguousarray(x, dtype=np.float32).astype(np.float64)
        rows, width = x64.shape
        flat = x64.ravel()
        row_offset = (np.arange(rows, dtype=np.intp) * width)[:, None]
        feature, threshold, children = self._doubled
        # Nodes by their doubled index 2i (forest.py's walk): the next is children[2i + went_right].
        node = np.repeat(self.roots[None, :] * 2, rows, axis=0)
        path = [node]
        for _ in range(self.depth):
            went_right = flat.take(row_offset + feature.take(node)) > threshold.take(node)
            node = children.take(node + went_right)
            path.append(node)
        nodes = np.stack(path) >> 1  # (depth + 1) x rows x trees, back to plain node indices
        p: FloatArray = self.value.take(nodes[-1]).sum(axis=1) / self.n_trees
        # Each step's move of the expected P(good), credited to the feature its node splits on.
        moved = self.value.take(nodes[1:]) - self.value.take(nodes[:-1])
        out_offset = (np.arange(rows, dtype=np.intp) * self.n_features)[None, :, None]
        at = out_offset + self.node_feature.take(nodes[:-1])
        phi = np.bincount(at.ravel(), weights=moved.ravel(), minlength=rows * self.n_features)
        return p, phi.reshape(rows, self.n_features) / self.n_trees

    def first_reasons(self, contributions: FloatArray) -> list[str | None]:
        """The most lowering feature of each row (schema order on ties), None when nothing lowered P(good)."""
        lowest = np.argmin(contributions, axis=1)
        names = self.names
        return [names[i] if contributions[r, i] < 0.0 else None for r, i in enumerate(lowest.tolist())]


def path_attribution(model: CreditModel) -> PathAttribution:
    """The model's path attribution, from the covers it was loaded with (explain.npz)."""
    from pathlib import Path

    from creditwatch_model.explain import ForestCover

    cover: Any = model.cover
    if cover is None:
        raise RuntimeError("this model was loaded without covers: path attribution needs explain.npz")
    return PathAttribution(model, ForestCover.load(cover) if isinstance(cover, Path) else cover)
