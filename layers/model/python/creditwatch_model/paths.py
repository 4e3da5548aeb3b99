"""A cheap first reason: path attribution (Saabas' method, scikit-learn's `treeinterpreter`), scored in the same walk.

Each split an applicant passes moves the tree's expected P(good) from the node's value to the child's
(node values: the cover-weighted mean of their leaves); the move is credited to the split's feature,
summed per schema feature and averaged over trees. The contributions add up to P(good) less the forest's
mean root value, like TreeSHAP's, but need no Shapley tables. A leaf's path is the same for every row that
reaches it, so its moves are summed once at load (one bottom-up pass for the node values, one top-down
for each node's moves so far: ~5 ms), and a row costs finding its leaves and summing theirs. One row's
leaves are found by comparing it at every node at once and following the chosen children (~0.02 ms, where
the level-by-level walk of a batch costs ~0.06 ms for one row and spends most of it on numpy's per-call
overhead; scoring and TreeSHAP cost ~0.05 + 0.14 ms). On the shipped model its most lowering feature is
TreeSHAP's for 88% of the data set's rows (bench/predict_bench.py prints the agreement). The shadow
challenger's first reason comes from here (creditwatch_predict.shadow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from creditwatch_model.forest import FloatArray, float32_at_or_below

if TYPE_CHECKING:
    from creditwatch_model import CreditModel
    from creditwatch_model.explain import ForestCover


# Up to this many rows, leaves() compares each row at every node (~0.02 ms a row); beyond, it walks all
# rows level by level (~0.06 ms for one row, ~0.01 ms a row in a batch).
_ONE_AT_A_TIME = 4


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
        self.base_value = float(value[self.roots].mean())
        # The one-row search's arrays, as small as they go (a request reads them all: a quarter of the bytes).
        below = float32_at_or_below(self.threshold)
        small = np.int16 if max(n, int(self.feature.max()) + 1) < 2**15 else np.int32
        self._one = (self.feature.astype(small), below, left.astype(small), right.astype(small))
        self._doubled = (np.repeat(self.feature, 2), np.repeat(below, 2), doubled)
        # Each node's moves from its root, per schema feature: a parent's, plus the move into the node
        # credited to the parent's feature; one pass per level, top-down.
        self.moves = np.zeros((n, self.n_features))
        at = np.arange(internal.shape[0])
        for _ in range(forest.depth):
            for child in (left[internal], right[internal]):
                moves = self.moves[internal]
                moves[at, self.node_feature[internal]] += value[child] - value[internal]
                self.moves[child] = moves

    def walk(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """P(good) of each row and its contributions (rows x schema features), as scikit-learn splits."""
        leaves = self.leaves(x)
        return self.probabilities(leaves), self.contributions(leaves)

    def probabilities(self, leaves: npt.NDArray[np.intp]) -> FloatArray:
        """P(good) of rows from their leaves (leaves()), as PackedForest.predict_good sums them."""
        p: FloatArray = self.value.take(leaves, mode="wrap").sum(axis=1) / self.n_trees
        return p

    def contributions(self, leaves: npt.NDArray[np.intp]) -> FloatArray:
        """Each row's contributions (rows x schema features) from its leaves (leaves())."""
        phi: FloatArray = self.moves.take(leaves, axis=0, mode="wrap").sum(axis=1) / self.n_trees
        return phi

    def leaves(self, x: FloatArray) -> npt.NDArray[np.intp]:
        """The leaf each row reaches in each tree (rows x trees), as scikit-learn splits."""
        # scikit-learn compares float32 inputs against float64 thresholds (forest.py does the same).
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        rows, width = x32.shape
        if rows <= _ONE_AT_A_TIME:
            # A row's split at every node at once, then its children followed: a dozen numpy calls.
            feature, below, left, right = self._one
            out = np.empty((rows, self.roots.shape[0]), dtype=np.intp)
            for r, row in enumerate(x32):
                chosen = np.where(row.take(feature) > below, right, left)
                node = self.roots
                for _ in range(self.depth):
                    node = chosen.take(node, mode="wrap")
                out[r] = node
            return out
        flat = x32.ravel()
        row_offset = (np.arange(rows, dtype=np.intp) * width)[:, None]
        feature, threshold, children = self._doubled
        # Nodes by their doubled index 2i (forest.py's walk): the next is children[2i + went_right].
        node = np.repeat(self.roots[None, :] * 2, rows, axis=0)
        for _ in range(self.depth):  # mode="wrap": as forest.py walks (every index is in range)
            went_right = flat.take(row_offset + feature.take(node, mode="wrap"), mode="wrap") > threshold.take(
                node, mode="wrap"
            )
            node = children.take(node + went_right, mode="wrap")
        return node >> 1

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
