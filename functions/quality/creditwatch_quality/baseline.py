"""What a cohort is judged against: the validation, threshold and calibration of the model version that scored it.

The version comes from the records (`model_version`); its figures from its registered artifacts
(`metadata.json` and `calibration.json`, each checked against the card's sha256), or the layer's own when
the layer ships that version. A version the registry does not hold (or no registry configured) is judged
against the layer model's figures, and the summary says so and why: never silently another model's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from creditwatch_analytics.summaries import JudgedAgainst
from creditwatch_common.registry import ModelRegistry, RegistryError
from creditwatch_model import METADATA_FILE, CreditModel
from creditwatch_model.calibration import CALIBRATION_FILE, Calibration
from creditwatch_quality.models import Figure
from creditwatch_quality.reference import Estimator, estimator_of, load_estimator, validation_figures

UNKNOWN = "unknown"


class BaselineUnavailable(Exception):
    """The registry holds the version but could not give its figures (unreachable, corrupt, changed artifacts)."""


@dataclass(frozen=True)
class Baseline:
    """One model version's reference: validation on both populations, its threshold and its CBPE estimator."""

    version: str
    threshold: float
    validation: dict[str, Figure]
    validation_booked: dict[str, Figure]
    source: Literal["registry", "layer"]
    estimator: Estimator | None = None
    # What the estimate assumes, or why there is none.
    assumption: str | None = None
    # Why the layer's figures stand in for another version's (None: they are the version's own).
    fallback: str | None = None


def _from_metadata(
    version: str,
    metadata: Mapping[str, object],
    calibration: Calibration | None,
    source: Literal["registry", "layer"],
    resamples: int,
    seed: int,
) -> Baseline:
    decision = metadata.get("decision")
    threshold = float(decision["threshold"]) if isinstance(decision, Mapping) else 0.5
    if source == "layer":
        estimator, note = load_estimator(threshold, resamples, seed)
    elif calibration is not None:
        estimator, note = estimator_of(calibration, threshold, resamples, seed)
    else:
        # Another version's scores through the layer's calibration map would be a wrong estimate: none at all.
        estimator, note = None, f"version {version} has no calibration map: estimated figures not computed"
    return Baseline(
        version=version,
        threshold=threshold,
        validation=validation_figures(metadata),
        validation_booked=validation_figures(metadata, "booked_loans"),
        source=source,
        estimator=estimator,
        assumption=note,
    )


@dataclass
class Baselines:
    """Each version's Baseline, read once per instance (versions are immutable); the layer's model as fallback."""

    layer_model: CreditModel
    registry: ModelRegistry | None
    resamples: int = 1000
    seed: int = 0
    _known: dict[str, Baseline] = field(default_factory=dict, init=False, repr=False)

    @property
    def layer(self) -> Baseline:
        """The layer model's own reference (with the layer's calibration)."""
        return self._layer_baseline()

    def _layer_baseline(self) -> Baseline:
        version = self.layer_model.version
        if version not in self._known:
            self._known[version] = _from_metadata(
                version, self.layer_model.metadata, None, "layer", self.resamples, self.seed
            )
        return self._known[version]

    def for_version(self, version: str) -> Baseline:
        """The version's reference; the layer's, with the reason, when the registry does not hold it.

        BaselineUnavailable when the registry holds the version but cannot give its figures now: a run
        judged against another model's figures would page (or stay quiet) for the wrong reason.
        """
        layer = self._layer_baseline()
        if version in self._known:
            return self._known[version]
        if version == UNKNOWN:
            return _stand_in(layer, "the records do not name the model version that scored them")
        if self.registry is None:
            return _stand_in(layer, f"no model registry configured (MODEL_REGISTRY_BUCKET) to read version {version}")
        try:
            if not self.registry.knows(version):
                return _stand_in(
                    layer, f"the model registry s3://{self.registry.bucket} does not hold version {version}"
                )
            card = self.registry.card(version)
            metadata = json.loads(self.registry.read_artifact(version, METADATA_FILE, card))
            calibration = None
            if CALIBRATION_FILE in card.artifacts:
                calibration = Calibration.from_dict(
                    json.loads(self.registry.read_artifact(version, CALIBRATION_FILE, card))
                )
        except RegistryError as exc:
            raise BaselineUnavailable(f"version {version}'s figures cannot be read: {exc}") from exc
        baseline = _from_metadata(version, metadata, calibration, "registry", self.resamples, self.seed)
        self._known[version] = baseline
        return baseline


def _stand_in(layer: Baseline, why: str) -> Baseline:
    """The layer's figures standing in for a version the registry cannot name, with why."""
    return Baseline(
        version=layer.version,
        threshold=layer.threshold,
        validation=layer.validation,
        validation_booked=layer.validation_booked,
        source="layer",
        estimator=layer.estimator,
        assumption=layer.assumption,
        fallback=f"{why}: judged against the layer model's validation (version {layer.version})",
    )


def main_version(model_versions: Mapping[str, int]) -> str | None:
    """The version that scored most of the cohort (ties: the first by name); None for an empty cohort."""
    if not model_versions:
        return None
    return min(model_versions, key=lambda v: (-model_versions[v], v))


def judged_against(baseline: Baseline, scored_by: str, model_versions: Mapping[str, int]) -> JudgedAgainst:
    """What the summary says of the reference: whose figures, for how much of the cohort, and why if not its own."""
    total = sum(model_versions.values())
    others = {v: n for v, n in model_versions.items() if v != scored_by}
    note = None
    if others:
        rest = ", ".join(f"{v} {n}" for v, n in sorted(others.items(), key=lambda kv: (-kv[1], kv[0])))
        note = (
            f"the cohort mixes model versions: {scored_by} scored {model_versions.get(scored_by, 0)} of {total} "
            f"predictions ({rest}); judged against {scored_by}'s reference, the version that scored most of it"
        )
    return JudgedAgainst(
        scored_by=scored_by,
        version=baseline.version,
        source=baseline.source,
        predictions=model_versions.get(scored_by, 0),
        share=round(model_versions.get(scored_by, 0) / total, 6) if total else None,
        threshold=baseline.threshold,
        fallback=baseline.fallback,
        mixed=note,
    )
