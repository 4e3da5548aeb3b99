"""Credit-grade population stability: PSI on bins frozen from the reference, per feature (CSI) and on P(good).

PSI = sum over bins of (actual - expected) * ln(actual / expected), shares floored (FLOOR in the bins
file) so that an empty bin counts as a small share instead of an infinite term. Bands as the credit-risk
industry reads them: below 0.10 stable, 0.10 to 0.25 moderate, above 0.25 significant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from creditwatch_analytics.lake.sql import BinSpec, CountSpec, WindowCounts, counts_from_frame
from creditwatch_drift.models import Band, ColumnStability, Stability
from creditwatch_model import CreditModel, model_dir
from creditwatch_model.bins import DECISION, PSI_BINS_FILE, SCORE, FrozenBins, StabilityBins, load_bins

STABLE_BELOW = 0.10
SIGNIFICANT_ABOVE = 0.25


def load_stability_bins(directory: Path | None = None) -> StabilityBins | None:
    """The bins that ship with the model; None for a model trained before they existed."""
    path = (directory or model_dir()) / PSI_BINS_FILE
    return load_bins(path) if path.exists() else None


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, floor: float) -> float:
    """Population stability index of actual against expected shares (same bins), empty bins floored."""
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def band(value: float) -> Band:
    """The industry's reading of a PSI."""
    if value < STABLE_BELOW:
        return "stable"
    return "moderate" if value <= SIGNIFICANT_ABOVE else "significant"


def column_stability(bins: FrozenBins, values: pd.Series, floor: float, kind: str | None = None) -> ColumnStability:
    """One column's PSI against its frozen reference shares."""
    return counted_stability(bins, bins.counts(values), floor, kind)


def counted_stability(
    bins: FrozenBins, counts: Sequence[int] | np.ndarray, floor: float, kind: str | None = None
) -> ColumnStability:
    """One column's PSI from the window's counts in its frozen bins."""
    counted = np.asarray(counts, dtype=float)
    total = counted.sum()
    shares = counted / total if total else None
    value = psi(bins.reference, shares, floor) if shares is not None else None
    return ColumnStability(
        name=bins.name,
        kind=kind or bins.kind,
        psi=round(value, 6) if value is not None else None,
        band=band(value) if value is not None else None,
        bins=bins.labels(),
        share_reference=list(bins.reference),
        share_current=[round(float(s), 6) for s in shares] if shares is not None else None,
        note=None if shares is not None else "no values in the window",
    )


def bin_specs(bins: StabilityBins, model: CreditModel) -> tuple[BinSpec, ...]:
    """The frozen bins as the window engines count them (lake.sql): score, decision, then the features."""

    def spec(b: FrozenBins) -> BinSpec:
        return BinSpec(b.name, edges=b.edges, codes=b.codes if b.kind == "categorical" else None)

    features = [bins.features[f.name] for f in model.schema.features if f.name in bins.features]
    return tuple(spec(b) for b in (bins.score, bins.decision, *features))


def stability(
    current: pd.DataFrame | WindowCounts, bins: StabilityBins, model: CreditModel, approval_rate_reference: float
) -> Stability:
    """PSI of P(good), of the decisions and of every feature, window against the frozen reference.

    The window is its counts in the frozen bins (an engine's SQL over the whole window), or a frame to count.
    """
    counts = (
        current if isinstance(current, WindowCounts) else counts_from_frame(current, CountSpec(bin_specs(bins, model)))
    )
    decided = counts.bins[DECISION]
    approved = decided[bins.decision.codes.index("approve")] if "approve" in bins.decision.codes else 0
    return Stability(
        floor=bins.floor,
        bins_model_version=bins.model_version,
        score=counted_stability(bins.score, counts.bins[SCORE], bins.floor, "score"),
        decision=counted_stability(bins.decision, decided, bins.floor, "decision"),
        approval_rate_reference=round(approval_rate_reference, 6),
        approval_rate_current=round(approved / sum(decided), 6) if sum(decided) else None,
        features=[
            counted_stability(bins.features[f.name], counts.bins[f.name], bins.floor)
            for f in model.schema.features
            if f.name in bins.features
        ],
    )
