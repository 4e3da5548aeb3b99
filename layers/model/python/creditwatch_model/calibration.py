"""The calibration map from the served P(good) to a calibrated P(bad), fitted at training time (calibration.json)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from creditwatch_model.canonical import write_json

CALIBRATION_FILE = "calibration.json"
METHODS = ("sigmoid", "isotonic")
# P(good) is clipped this far from 0 and 1 before its logit (the forest's scores never get that close).
_LOGIT_EPS = 1e-6


def logit(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """log(p / (1 - p)) of probabilities clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=float), _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.asarray(np.log(q / (1 - q)))


@dataclass(frozen=True)
class Calibration:
    """P(bad) = sigmoid(slope * logit(P(good)) + intercept), or an isotonic step map interpolated between knots."""

    method: str
    slope: float = 0.0
    intercept: float = 0.0
    knots_p_good: tuple[float, ...] = ()
    knots_p_bad: tuple[float, ...] = ()
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown calibration method {self.method!r}: expected one of {METHODS}")
        if self.method == "sigmoid":
            if not (math.isfinite(self.slope) and math.isfinite(self.intercept)) or self.slope > 0:
                raise ValueError(
                    "a sigmoid calibration needs a finite, non-positive slope (P(bad) falls as P(good) rises)"
                )
            return
        x, y = np.asarray(self.knots_p_good, dtype=float), np.asarray(self.knots_p_bad, dtype=float)
        if len(x) < 1 or x.shape != y.shape:
            raise ValueError("an isotonic calibration needs as many P(bad) knots as P(good) knots, at least one")
        if np.any(np.diff(x) < 0) or np.any(np.diff(y) > 0) or np.any((y < 0) | (y > 1)):
            raise ValueError("isotonic knots must rise in P(good) and fall in P(bad), within [0, 1]")

    def bad_probability(self, p_good: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated P(bad) of each served P(good)."""
        p = np.asarray(p_good, dtype=float)
        if self.method == "sigmoid":
            z = self.slope * logit(p) + self.intercept
            return np.asarray(1.0 / (1.0 + np.exp(-z)))
        # np.interp clips beyond the end knots, as IsotonicRegression(out_of_bounds="clip").
        return np.asarray(np.interp(p, self.knots_p_good, self.knots_p_bad))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: numbers only."""
        body: dict[str, Any] = {"method": self.method}
        if self.method == "sigmoid":
            body.update(slope=self.slope, intercept=self.intercept)
        else:
            body.update(knots_p_good=list(self.knots_p_good), knots_p_bad=list(self.knots_p_bad))
        body.update(self.info)
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Calibration:
        """Read the JSON form (extra keys are kept as information)."""
        known = {"method", "slope", "intercept", "knots_p_good", "knots_p_bad"}
        return cls(
            method=str(body["method"]),
            slope=float(body.get("slope", 0.0)),
            intercept=float(body.get("intercept", 0.0)),
            knots_p_good=tuple(float(v) for v in body.get("knots_p_good", ())),
            knots_p_bad=tuple(float(v) for v in body.get("knots_p_bad", ())),
            info={k: v for k, v in body.items() if k not in known},
        )

    @classmethod
    def load(cls, directory: Path | str) -> Calibration:
        """The calibration shipped in a model artifacts folder."""
        return cls.from_dict(json.loads((Path(directory) / CALIBRATION_FILE).read_text()))

    def save(self, directory: Path | str) -> None:
        """Write calibration.json into an artifacts folder (canonical floats)."""
        write_json(Path(directory) / CALIBRATION_FILE, self.to_dict())
