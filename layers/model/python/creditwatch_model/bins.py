"""Population-stability bins frozen from the training reference, shipped with the model version.

Deciles of the reference for numbers (and for P(good)), the schema's codes for categories, with the
reference's share in every bin. A drift run counts its window into these same bins, so its PSI does
not move with the window as pooled binning does (evidently#1400).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from creditwatch_model.canonical import write_json
from creditwatch_model.schema import FeatureSchema

PSI_BINS_FILE = "psi_bins.json"
SCORE = "probability_good_credit"
DECISION = "decision"
DECISIONS = ("approve", "refuse")
# A code the schema does not know (another model version's) still lands somewhere: its own bin.
OTHER = "(other)"
# Share given to an empty bin, so that ln(actual / expected) stays finite.
FLOOR = 1e-4
DECILES = tuple(round(q / 10, 1) for q in range(1, 10))

BinKind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class FrozenBins:
    """One column's bins and the reference's share in each."""

    name: str
    kind: BinKind
    edges: tuple[float, ...] = ()  # numerical: right-closed (-inf, e1], (e1, e2], ..., (ek, inf)
    codes: tuple[str, ...] = ()  # categorical: one bin per code, then OTHER
    reference: tuple[float, ...] = ()

    def labels(self) -> list[str]:
        """A readable name per bin."""
        if self.kind == "categorical":
            return [*self.codes, OTHER]
        bounds = ["-inf", *(f"{e:g}" for e in self.edges), "inf"]
        return [f"({lo}, {hi}]" for lo, hi in itertools.pairwise(bounds)]

    def counts(self, values: pd.Series) -> np.ndarray:
        """How many of the (non-missing) values fall in each bin."""
        present = values.dropna()
        if self.kind == "categorical":
            index = {code: i for i, code in enumerate(self.codes)}
            at = np.fromiter((index.get(str(v), len(self.codes)) for v in present), dtype=np.int64, count=len(present))
            return np.bincount(at, minlength=len(self.codes) + 1)
        at = np.searchsorted(np.asarray(self.edges, dtype=float), present.to_numpy(dtype=float), side="left")
        return np.bincount(at, minlength=len(self.edges) + 1)

    def shares(self, values: pd.Series) -> np.ndarray | None:
        """The share of the (non-missing) values in each bin; None when there are none."""
        counts = self.counts(values)
        total = counts.sum()
        return counts / total if total else None

    def to_dict(self) -> dict[str, Any]:
        """Serialise for psi_bins.json."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "numerical":
            out["edges"] = list(self.edges)
        else:
            out["codes"] = list(self.codes)
        out["reference"] = list(self.reference)
        return out

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> FrozenBins:
        """Read one column of psi_bins.json."""
        return cls(
            name=name,
            kind=data["kind"],
            edges=tuple(float(e) for e in data.get("edges", ())),
            codes=tuple(str(c) for c in data.get("codes", ())),
            reference=tuple(float(s) for s in data["reference"]),
        )


@dataclass(frozen=True)
class StabilityBins:
    """Every column's frozen bins: the features, the score and the decision."""

    features: dict[str, FrozenBins]
    score: FrozenBins
    decision: FrozenBins
    floor: float = FLOOR
    model_version: str | None = None


def _frozen(name: str, kind: BinKind, values: pd.Series, codes: Sequence[str] = ()) -> FrozenBins:
    if kind == "numerical":
        quantiles = np.quantile(values.to_numpy(dtype=float), DECILES)
        # Rounded so that the JSON is byte-stable; ties (discrete features) collapse into one edge.
        edges = tuple(float(e) for e in np.unique(np.round(quantiles, 10)))
        bins = FrozenBins(name, kind, edges=edges)
    else:
        bins = FrozenBins(name, kind, codes=tuple(codes))
    shares = bins.shares(values)
    assert shares is not None, f"{name}: no reference values"
    return FrozenBins(name, kind, bins.edges, bins.codes, tuple(round(float(s), 10) for s in shares))


def build_bins(reference: pd.DataFrame, schema: FeatureSchema) -> StabilityBins:
    """The bins of every feature, of P(good) and of the decision, from the reference sample."""
    features = {
        f.name: _frozen(f.name, "categorical" if f.is_categorical else "numerical", reference[f.name], list(f.codes))
        for f in schema.features
    }
    return StabilityBins(
        features=features,
        score=_frozen(SCORE, "numerical", reference[SCORE]),
        decision=_frozen(DECISION, "categorical", reference[DECISION], DECISIONS),
    )


def dump_bins(bins: StabilityBins, path: Path, model_version: str) -> None:
    """Write psi_bins.json (fixed rounding, canonical floats: the same reference gives the same bytes)."""
    doc = {
        "model_version": model_version,
        "floor": bins.floor,
        "binning": "deciles of the reference for numbers (right-closed, ties merged), one bin per code for categories",
        "features": {name: b.to_dict() for name, b in bins.features.items()},
        "score": bins.score.to_dict(),
        "decision": bins.decision.to_dict(),
    }
    write_json(path, doc, indent=1)


def load_bins(path: Path) -> StabilityBins:
    """Read psi_bins.json."""
    doc = json.loads(path.read_text())
    return StabilityBins(
        features={name: FrozenBins.from_dict(name, b) for name, b in doc["features"].items()},
        score=FrozenBins.from_dict(SCORE, doc["score"]),
        decision=FrozenBins.from_dict(DECISION, doc["decision"]),
        floor=float(doc["floor"]),
        model_version=doc.get("model_version"),
    )
