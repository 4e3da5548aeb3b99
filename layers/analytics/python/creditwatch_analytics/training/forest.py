"""The fitted scikit-learn forest packed for serving (forest.npz, explain.npz) and the version it gets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from creditwatch_model import FeatureSchema, PackedForest
from creditwatch_model.canonical import canonical, canonical_array, canonical_float
from creditwatch_model.explain import ForestCover


def pack_forest(forest: RandomForestClassifier) -> PackedForest:
    """Flatten a fitted forest's trees into one PackedForest (leaves point to themselves, values canonical)."""
    good = list(forest.classes_).index(1)
    features, thresholds, lefts, rights, values, roots = [], [], [], [], [], []
    offset = 0
    depth = 0
    for est in forest.estimators_:
        assert isinstance(est, DecisionTreeClassifier)
        tree = est.tree_
        n = tree.node_count
        idx = np.arange(n, dtype=np.int64)
        leaf = tree.children_left == -1
        vals = tree.value[:, 0, :]
        p_good = vals[:, good] / vals.sum(axis=1)
        features.append(np.where(leaf, 0, tree.feature))
        thresholds.append(np.where(leaf, np.inf, tree.threshold))
        lefts.append(np.where(leaf, idx, tree.children_left) + offset)
        rights.append(np.where(leaf, idx, tree.children_right) + offset)
        values.append(np.where(leaf, p_good, np.nan))
        roots.append(offset)
        offset += n
        depth = max(depth, int(tree.max_depth))
    # Thresholds stay exact: they are float32 midpoints, and rounding one could move it past an input value.
    return PackedForest(
        feature=np.concatenate(features).astype(np.int32),
        threshold=np.concatenate(thresholds).astype(np.float64),
        left=np.concatenate(lefts).astype(np.int32),
        right=np.concatenate(rights).astype(np.int32),
        value=canonical_array(np.concatenate(values)),
        roots=np.asarray(roots, dtype=np.int32),
        depth=depth,
    )


def forest_cover(forest: RandomForestClassifier) -> ForestCover:
    """Node covers (weighted training samples, what shap's TreeExplainer weighs by) in packed order, canonical."""
    good = list(forest.classes_).index(1)
    covers, roots = [], []
    for est in forest.estimators_:
        tree = est.tree_
        covers.append(tree.weighted_n_node_samples)
        root = tree.value[0, 0, :]
        roots.append(root[good] / root.sum())
    return ForestCover(cover=canonical_array(np.concatenate(covers)), root_value=canonical_array(roots))


def content_version(forest: PackedForest, schema: FeatureSchema, threshold: float) -> str:
    """Version = hash of what decides an answer, on canonical values: the forest, the schema and the threshold."""
    h = hashlib.sha256()
    for field in fields(forest):
        array = np.asarray(getattr(forest, field.name))
        if array.dtype.kind == "f":
            array = canonical_array(array)
        h.update(field.name.encode())
        # Little-endian whatever the machine: the bytes hashed are the values, not their memory layout.
        h.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    h.update(json.dumps(canonical(schema.to_dict()), sort_keys=True).encode())
    h.update(repr(canonical_float(threshold)).encode())
    return h.hexdigest()[:12]
