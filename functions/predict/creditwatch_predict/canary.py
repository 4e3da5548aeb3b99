"""What the canary's alarms need from each answer: P(good) counted into the model's frozen quintiles.

The PSI of a version's scores against the frozen reference is CloudWatch metric math over these counts
(template.yaml `CanaryScorePsiAlarm`): a count per bin and request is all the function adds, the same
in every execution environment, so the sum over a period is the version's whole traffic, never a sample.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Quintiles: every second decile edge of psi_bins.json's score bins, so each bin holds 0.2 of the
# reference (the template's PSI expression assumes it; tests/unit/test_canary_metrics.py checks it).
QUINTILE_EDGE_POSITIONS = (1, 3, 5, 7)
PSI_BINS_FILE = "psi_bins.json"


# Up to this many probabilities, counts() bisects each; beyond, numpy bins them at once.
_ONE_BY_ONE = 16


@dataclass(frozen=True)
class ScoreBins:
    """The right-closed P(good) quintile edges of one model version's reference."""

    model_version: str
    edges: tuple[float, ...]

    @classmethod
    def load(cls, artifacts: Path, model_version: str) -> ScoreBins | None:
        """The frozen quintiles shipped with `model_version`; None when the artifacts are another version's."""
        path = artifacts / PSI_BINS_FILE
        if not path.is_file():
            return None
        doc = json.loads(path.read_text())
        deciles = doc.get("score", {}).get("edges", [])
        if doc.get("model_version") != model_version or len(deciles) != 9:
            return None
        return cls(model_version, tuple(float(deciles[i]) for i in QUINTILE_EDGE_POSITIONS))

    def counts(self, probabilities: Sequence[float]) -> list[int]:
        """How many of the probabilities fall in each quintile (right-closed, as the drift job bins them)."""
        if len(probabilities) <= _ONE_BY_ONE:
            out = [0] * (len(self.edges) + 1)
            for p in probabilities:
                out[bisect.bisect_left(self.edges, p)] += 1
            return out
        # A batch's at once: searchsorted's left side is bisect_left's.
        at = np.searchsorted(np.asarray(self.edges), np.asarray(probabilities, dtype=np.float64), side="left")
        return np.bincount(at, minlength=len(self.edges) + 1).tolist()  # type: ignore[no-any-return]
