"""The cohort's realized figures, calibration table and confusion matrix, from the model layer's definitions.

The figures are defined once, in numpy, in creditwatch_model.quality (validation, the CBPE estimate and this
job share them; tested against scikit-learn there); this module turns them into the summary's models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from creditwatch_model import quality
from creditwatch_quality.models import CalibrationBand, Confusion, Figure

REALIZED = quality.METRICS
INTERVAL_METHOD = "Poisson bootstrap of the labelled rows ({n} resamples), 95% percentile interval"


@dataclass(frozen=True)
class Labelled:
    """A cohort's labelled rows as arrays: outcome (1 good, 0 bad), P(good), and whether it was approved."""

    y: np.ndarray
    p: np.ndarray
    approved: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.y) == len(self.p) == len(self.approved)):
            raise ValueError("y, p and approved must have the same length")


def realized(data: Labelled, resamples: int = quality.RESAMPLES, seed: int = 0) -> dict[str, Figure]:
    """Each realized figure with its 95% Poisson-bootstrap interval (None where undefined, e.g. one class only)."""
    raw = quality.realized(data.p, data.y, data.approved, resamples=resamples, seed=seed)
    return {name: Figure(**figure) for name, figure in raw.items()}


def calibration_table(data: Labelled) -> list[CalibrationBand]:
    """Expected (mean P(bad)) and observed bad rate of the labelled rows in each P(bad) band of width 0.1."""
    return [CalibrationBand(**band) for band in quality.calibration_table(data.p, data.y)]


def confusion(data: Labelled, threshold: float) -> Confusion:
    """The confusion matrix of the decisions taken (positive = good, predicted positive = approved)."""
    return Confusion(threshold=threshold, **quality.confusion(data.p, data.y, data.approved))
