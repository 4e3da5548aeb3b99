"""What a cohort is judged against: the validation, threshold and calibration of the model version that scored it.

The version comes from the records (`model_version`); its figures from its registered artifacts
(`metadata.json` and `calibration.json`, each checked against the card's sha256), or the layer's own when
the layer ships that version. A version the registry does not hold (or no registry configured) is judged
against the layer model's figures, and the summary says so and why: never silently another model's.

Which holdout: a version trained on matured outcomes is judged in the world it was trained for. Booked loans
are compared with its card's recent labelled holdout (the latest matured outcomes, kept out of training) on
the rows the model approves, with that holdout's own, wider intervals, when those rows are at least
MIN_RECENT_ROWS with both outcomes; otherwise, and for every version without a recent holdout (the layer's
model), with the original holdout's approved rows, as before, and the summary says why. Every scored
applicant (refused ones with outcomes too) is always compared with the whole original holdout: the recent
one holds only the outcomes the lender observed. `judged_against.holdout` names the one used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from creditwatch_analytics.summaries import JudgedAgainst
from creditwatch_common.model_card import ModelCard
from creditwatch_common.registry import ModelRegistry, RegistryError
from creditwatch_model import METADATA_FILE, CreditModel
from creditwatch_model.calibration import CALIBRATION_FILE, Calibration
from creditwatch_quality.models import Figure
from creditwatch_quality.reference import Estimator, estimator_of, load_estimator, validation_figures

UNKNOWN = "unknown"
# A recent holdout's approved rows stand as the booked loans' reference from this many on (both outcomes among
# them), the card's own minimum for figures (creditwatch_analytics.training.card.MIN_HOLDOUT_ROWS).
MIN_RECENT_ROWS = 30
HoldoutName = Literal["original", "recent"]


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
    # Which holdout validation_booked comes from, on how many rows, and why the original when the card has a recent.
    booked_holdout: HoldoutName = "original"
    booked_rows: int | None = None
    holdout_note: str | None = None
    scored_rows: int | None = None


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
    metrics = metadata.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    return Baseline(
        version=version,
        threshold=threshold,
        validation=validation_figures(metadata),
        validation_booked=validation_figures(metadata, "booked_loans"),
        source=source,
        estimator=estimator,
        assumption=note,
        booked_rows=_rows(metrics.get("validation_approved_method")),
        scored_rows=_rows(metrics.get("validation_method")),
    )


def _rows(method: object) -> int | None:
    rows = method.get("rows") if isinstance(method, Mapping) else None
    return int(rows) if isinstance(rows, int) else None


def _on_recent_holdout(baseline: Baseline, card: ModelCard) -> Baseline:
    """Booked loans judged against the card's recent holdout (the rows the model approves), when it has enough."""
    recent = card.validation.get("recent")
    if recent is None or recent.rows == 0:
        return baseline
    approved = recent.approved
    if approved is not None and approved.rows >= MIN_RECENT_ROWS and approved.figures:
        figures = {k: Figure(**v) for k, v in approved.figures.items()}
        return replace(baseline, validation_booked=figures, booked_holdout="recent", booked_rows=approved.rows)
    rows = 0 if approved is None else approved.rows
    why = approved.note if approved is not None and approved.note else "no figures on them"
    return replace(
        baseline,
        holdout_note=(
            f"the recent holdout's rows the model approves ({rows} of {recent.rows}: {why}) are too few to judge "
            f"booked loans against (at least {MIN_RECENT_ROWS} with both outcomes): judged against the original "
            "holdout's, of another world if the version was trained for a changed one"
        ),
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
        baseline = _on_recent_holdout(baseline, card)
        self._known[version] = baseline
        return baseline


def _stand_in(layer: Baseline, why: str) -> Baseline:
    """The layer's figures standing in for a version the registry cannot name, with why."""
    return replace(layer, fallback=f"{why}: judged against the layer model's validation (version {layer.version})")


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
        holdout=baseline.booked_holdout,
        holdout_rows=baseline.booked_rows,
        holdout_note=baseline.holdout_note,
        scored_by=scored_by,
        version=baseline.version,
        source=baseline.source,
        predictions=model_versions.get(scored_by, 0),
        share=round(model_versions.get(scored_by, 0) / total, 6) if total else None,
        threshold=baseline.threshold,
        fallback=baseline.fallback,
        mixed=note,
    )


def for_population(judged: JudgedAgainst, baseline: Baseline, booked: bool) -> JudgedAgainst:
    """judged_against naming the holdout the population's validation came from (every scored: the original)."""
    if booked:
        return judged
    note = None
    if baseline.booked_holdout == "recent":
        note = (
            "every scored applicant is judged against the whole original holdout: the recent one holds only the "
            "outcomes the lender observed"
        )
    return judged.model_copy(update={"holdout": "original", "holdout_rows": baseline.scored_rows, "holdout_note": note})
