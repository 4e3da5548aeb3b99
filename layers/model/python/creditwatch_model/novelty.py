"""How unlike the training data an application is: a Mahalanobis distance on its encoded values, and its bound.

Fitted at training (creditwatch_analytics.training.run) and shipped with the model as novelty.npz: each number
standardised by the training split's mean and standard deviation, each category one-hot over the
schema's codes (a code the schema lacks is all zeros), then the distance from the training split's
mean under its Ledoit-Wolf shrunk covariance (one-hot columns make the plain covariance singular).
The bound is a high quantile of the distances of the holdout split, rows the fit never saw: about that
share of training-like applications scores above it. The referral rule `ReviewNovelty` refers an
application whose distance exceeds the bound times its value (creditwatch_predict.referral).
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from creditwatch_model.schema import FeatureSchema

NOVELTY_FILE = "novelty.npz"
# The holdout's share the bound leaves above it (about 1% of training-like applications).
QUANTILE = 0.99
# Every member's time in the archive: the same values give the same bytes (as forest.npz).
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Novelty:
    """The encoding (numbers' mean and scale), the training mean and shrunk precision, and the bound."""

    schema: FeatureSchema
    mean: np.ndarray  # encoded columns' training mean
    precision: np.ndarray  # inverse of the shrunk covariance
    centre: np.ndarray  # numbers' training mean (standardisation)
    scale: np.ndarray  # numbers' training standard deviation
    bound: float

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Applications as encoded rows: numbers standardised, then every category's one-hot block, in model order."""
        numbers, categories = self._columns
        width = _width(self.schema)
        # Plain floats, one numpy conversion at the end: IEEE's subtraction and division, as numpy's.
        centre, scale = self.centre.tolist(), self.scale.tolist()
        out = []
        for row in rows:
            encoded = [0.0] * width
            for i, name in enumerate(numbers):
                encoded[i] = (float(row[name]) - centre[i]) / scale[i]
            for name, columns in categories:
                column = columns.get(str(row[name]))
                if column is not None:  # a code the schema lacks is all zeros
                    encoded[column] = 1.0
            out.append(encoded)
        return np.array(out, dtype=np.float64).reshape(len(rows), width)

    @functools.cached_property
    def _columns(self) -> tuple[list[str], list[tuple[str, dict[str, int]]]]:
        """The numbers' names, and each category's column of each of its codes (in model order)."""
        numbers = [f.name for f in self.schema.features if not f.is_categorical]
        categories = []
        at = len(numbers)
        for f in self.schema.features:
            if f.is_categorical:
                categories.append((f.name, {code: at + i for i, code in enumerate(f.codes)}))
                at += len(f.codes)
        return numbers, categories

    def scores(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Each application's distance from the training data (Mahalanobis, on the encoded values)."""
        d = self.encode(rows) - self.mean
        # Two products rather than one three-operand einsum (4x slower on a batch); einsum's own loops, not
        # BLAS's, so the figures are the same on every machine.
        q = np.einsum("ik,ik->i", np.einsum("ij,jk->ik", d, self.precision), d)
        return np.sqrt(np.maximum(q, 0.0))

    def save(self, path: Path) -> None:
        """Write a deterministic novelty.npz (values rounded to 10 decimals: the last bits a BLAS may change)."""
        arrays = {"mean": self.mean, "precision": self.precision, "centre": self.centre, "scale": self.scale}
        arrays = {k: np.round(np.asarray(v, dtype=np.float64), 10) for k, v in arrays.items()}
        arrays["bound"] = np.array(round(self.bound, 10), dtype=np.float64)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(arrays):
                buf = io.BytesIO()
                np.save(buf, arrays[name], allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    @classmethod
    def load(cls, path: Path, schema: FeatureSchema) -> Novelty:
        """Read novelty.npz for the model's schema."""
        with np.load(path, allow_pickle=False) as z:
            return cls(schema, z["mean"], z["precision"], z["centre"], z["scale"], float(z["bound"]))


def _width(schema: FeatureSchema) -> int:
    return sum(len(f.codes) if f.is_categorical else 1 for f in schema.features)


def fit_novelty(
    schema: FeatureSchema,
    train: Sequence[Mapping[str, Any]],
    holdout: Sequence[Mapping[str, Any]],
    quantile: float = QUANTILE,
) -> Novelty:
    """The encoding and distance fitted on the training rows, the bound at the holdout's `quantile`."""
    from sklearn.covariance import LedoitWolf

    numbers = [f.name for f in schema.features if not f.is_categorical]
    values = np.array([[float(r[n]) for n in numbers] for r in train])
    centre, scale = values.mean(axis=0), values.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    draft = Novelty(schema, np.zeros(_width(schema)), np.eye(_width(schema)), centre, scale, 0.0)
    encoded = draft.encode(train)
    shrunk = LedoitWolf().fit(encoded)
    fitted = Novelty(schema, encoded.mean(axis=0), shrunk.precision_, centre, scale, 0.0)
    bound = float(np.quantile(fitted.scores(holdout), quantile))
    return Novelty(schema, fitted.mean, fitted.precision, centre, scale, bound)
