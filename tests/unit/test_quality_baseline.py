"""The quality job judges a cohort against the model version that scored it: its registered figures, threshold and
calibration; a mixed cohort by the version that scored most of it; the layer's figures, with the reason, for a
version the registry does not hold; and no verdict at all when the registry holds it but cannot give it. A version
whose card has a recent labelled holdout has its booked loans judged against that holdout's approved rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from labelled import draw
from labelled import seed_cohort as seed_labelled
from model_versions import register_layer_champion, variant

from creditwatch_analytics.lake.window import DynamoWindow
from creditwatch_analytics.training import card as cards
from creditwatch_common.aws import AwsClients
from creditwatch_common.model_card import Holdout
from creditwatch_common.model_registry import version_prefix
from creditwatch_common.registry import ModelRegistry
from creditwatch_common.reports import Publisher
from creditwatch_model import METADATA_FILE
from creditwatch_quality.baseline import Baselines
from creditwatch_quality.models import QualityEvent
from creditwatch_quality.rules import judge
from creditwatch_quality.service import QualityJob
from creditwatch_quality.settings import QualitySettings

START, END = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
# The variant's own validation on booked loans: figures no layer model has, so a run that shows them read them.
VARIANT_BOOKED = {"auc": {"value": 0.6123, "low": 0.55, "high": 0.67}, "expected_cost": {"value": 0.4321}}
VARIANT_ALL = {"auc": {"value": 0.7345, "low": 0.70, "high": 0.77}}


class ScoredBy:
    """The layer's model under another version name: what seed_cohort writes into the records' model_version."""

    def __init__(self, model: Any, version: str) -> None:
        self._model = model
        self.version = version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@pytest.fixture
def registry(aws, s3) -> ModelRegistry:
    return ModelRegistry(s3, aws.ref("ModelRegistryBucket"))


def register_variant(registry: ModelRegistry, tmp_path: Path, threshold: float = 0.6) -> str:
    """A registered version with its own threshold and validation figures; its version."""
    folder, card = variant(tmp_path, threshold)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["metrics"]["validation_approved"] = VARIANT_BOOKED
    metadata["metrics"]["validation"] = VARIANT_ALL
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    registry.register(card, folder)
    return card.version


def recent_holdout(model: Any, n: int, *, seed: int, bad_odds: float = 1.0, refused: int = 0) -> Holdout:
    """A recent holdout as a challenger's card keeps it: the booked loans (and `refused` refused rows) of n drawn."""
    rows, bad = draw(model, n, np.random.default_rng(seed), seed=seed, bad_odds=bad_odds)
    booked = [i for i, r in enumerate(rows) if r["decision"] == "approve"]
    kept = booked + [i for i, r in enumerate(rows) if r["decision"] != "approve"][:refused]
    frame = pd.DataFrame([rows[i] for i in kept])
    return cards.holdout(frame, 1 - bad[kept].astype(int), model, cards.RECENT_POPULATION)


def register_retrained(registry: ModelRegistry, tmp_path: Path, recent: Holdout, threshold: float) -> str:
    """A version whose card carries that recent holdout (as one trained on matured outcomes has); its version."""
    folder, card = variant(tmp_path, threshold)
    card = card.model_copy(update={"validation": {**card.validation, "recent": recent}})
    registry.register(card, folder)
    return card.version


def seed(prediction_log, ddb, aws, model, version: str, n: int, **kwargs) -> list[Any]:
    table, shards = aws.ref("PredictionsTable"), int(aws.parameters["LogShards"])
    return seed_labelled(prediction_log, ddb, table, shards, ScoredBy(model, version), n=n, **kwargs)


@pytest.fixture
def job(aws, model, prediction_log, registry):
    def build(registry_or_none: ModelRegistry | None = registry) -> QualityJob:
        settings = QualitySettings().model_copy(update={"resamples": 200, "min_labelled_rows": 50})
        return QualityJob(
            settings=settings,
            baselines=Baselines(model, registry_or_none, resamples=200),
            source=DynamoWindow(prediction_log),
            publisher=Publisher(s3=AwsClients().s3, bucket=aws.ref("ReportsBucket")),
        )

    return build


def run(job: QualityJob) -> Any:
    return job.run(QualityEvent(start=START, end=END, notify=False))


def test_a_cohort_scored_by_a_registered_version_is_judged_against_its_validation_threshold_and_calibration(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    version = register_variant(registry, tmp_path, threshold=0.6)
    records = seed(prediction_log, ddb, aws, model, version, 400, start=START, end=END, booked_only=True)
    summary = run(job())
    assert summary.model_version == version
    judged = summary.judged_against
    assert judged is not None and judged.source == "registry" and judged.fallback is None and judged.mixed is None
    assert (judged.scored_by, judged.predictions, judged.share, judged.threshold) == (version, 400, 1.0, 0.6)
    assert summary.population is not None and summary.population.name == "booked_loans"
    assert summary.validation["auc"].value == VARIANT_BOOKED["auc"]["value"]
    assert summary.validation_scored["auc"].value == VARIANT_ALL["auc"]["value"]
    assert summary.confusion is not None and summary.confusion.threshold == 0.6
    # CBPE at the version's threshold: its estimated approval rate is the share of scores at or above 0.6.
    p = np.array([r.probability_good_credit for r in records])
    assert summary.estimated["approval_rate"].value == pytest.approx(float((p >= 0.6).mean()), abs=1e-6)
    assert not [w for w in summary.warnings if "judged against" in w]


def test_a_cohort_scored_by_the_layers_version_is_judged_against_the_layers_metadata(
    job, registry, prediction_log, ddb, aws, model
):
    register_layer_champion(registry)
    seed(prediction_log, ddb, aws, model, model.version, 300, start=START, end=END, booked_only=True)
    summary = run(job())
    judged = summary.judged_against
    assert judged is not None and (judged.version, judged.source, judged.fallback) == (model.version, "layer", None)
    assert summary.validation["auc"].value == model.metadata["metrics"]["validation_approved"]["auc"]["value"]
    assert summary.confusion is not None and summary.confusion.threshold == model.threshold
    # Its card has no recent holdout (trained before any outcome): the original holdout's approved rows, as ever.
    approved_rows = model.metadata["metrics"]["validation_approved_method"]["rows"]
    assert (judged.holdout, judged.holdout_rows, judged.holdout_note) == ("original", approved_rows, None)
    assert "(holdout rows the model approves)" in summary.message


def test_a_version_whose_card_has_a_recent_holdout_has_its_booked_loans_judged_against_that_holdouts_approved_rows(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    recent = recent_holdout(model, 300, seed=7)
    assert recent.approved is not None and recent.approved.figures, recent.approved
    version = register_retrained(registry, tmp_path, recent, model.threshold)
    seed(prediction_log, ddb, aws, model, version, 300, start=START, end=END, booked_only=True)
    summary = run(job())
    judged = summary.judged_against
    assert judged is not None and judged.version == version and judged.source == "registry"
    assert (judged.holdout, judged.holdout_rows, judged.holdout_note) == ("recent", recent.approved.rows, None)
    assert {k: f.model_dump() for k, f in summary.validation.items()} == recent.approved.figures
    assert summary.validation["auc"].value != model.metadata["metrics"]["validation_approved"]["auc"]["value"]
    assert "(recent labelled holdout rows the model approves)" in summary.message
    # Beside the estimate, every holdout row of the original: the recent holdout holds booked loans only.
    assert summary.validation_scored["auc"].value == model.metadata["metrics"]["validation"]["auc"]["value"]


def test_a_changed_worlds_cohort_is_ok_against_its_models_recent_holdout_though_degraded_against_the_original(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    # A world that repays worse (five times the odds of bad: a booked loan's bad rate ~21%, not ~6%), ranked
    # alike: the recent holdout and the cohort are both drawn from it, the original holdout is not.
    recent = recent_holdout(model, 400, seed=7, bad_odds=5.0)
    version = register_retrained(registry, tmp_path, recent, model.threshold)
    seed(prediction_log, ddb, aws, model, version, 800, start=START, end=END, booked_only=True, bad_odds=5.0)
    summary = run(job())
    assert summary.judged_against is not None and summary.judged_against.holdout == "recent"
    assert summary.verdict == "ok", (summary.reasons, summary.realized, summary.validation)
    settings = job().settings
    original = Baselines(model, None).layer.validation_booked
    verdict, reasons = judge(
        summary.rows,
        summary.population.labelled_rows,
        summary.realized,
        original,
        min_labelled_rows=settings.min_labelled_rows,
        auc_drop=settings.auc_drop,
        cost_rise=settings.cost_rise,
        cost_per="booked loan",
    )
    assert verdict == "degraded" and reasons[0].startswith("expected cost per booked loan"), summary.realized


def test_a_recent_holdout_with_too_few_approved_rows_leaves_booked_loans_judged_against_the_original_and_says_why(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    # Enough rows for the holdout's own figures, but most of them refused by the model: too few approved.
    recent = recent_holdout(model, 40, seed=3, refused=40)
    assert recent.figures and recent.approved is not None and recent.approved.rows < 30, recent
    version = register_retrained(registry, tmp_path, recent, model.threshold)
    seed(prediction_log, ddb, aws, model, version, 300, start=START, end=END, booked_only=True)
    summary = run(job())
    judged = summary.judged_against
    assert judged is not None and judged.holdout == "original"
    assert judged.holdout_note is not None and f"({recent.approved.rows} of {recent.rows}:" in judged.holdout_note
    assert judged.holdout_note in summary.warnings
    assert summary.validation["auc"].value == model.metadata["metrics"]["validation_approved"]["auc"]["value"]


def test_every_scored_applicant_of_a_version_with_a_recent_holdout_is_judged_against_the_whole_original_holdout(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    version = register_retrained(registry, tmp_path, recent_holdout(model, 300, seed=7), model.threshold)
    seed(prediction_log, ddb, aws, model, version, 300, start=START, end=END)
    summary = run(job())
    assert summary.population is not None and summary.population.name == "all_scored"
    judged = summary.judged_against
    assert judged is not None and (judged.holdout, judged.holdout_rows) == ("original", 300)
    assert judged.holdout_note is not None and "only the outcomes the lender observed" in judged.holdout_note
    assert summary.validation["auc"].value == model.metadata["metrics"]["validation"]["auc"]["value"]


def test_a_mixed_cohort_is_judged_against_the_version_that_scored_most_of_it_and_says_so(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    version = register_variant(registry, tmp_path)
    middle = datetime(2026, 8, 20, tzinfo=UTC)
    seed(prediction_log, ddb, aws, model, model.version, 100, start=START, end=middle, booked_only=True, seed=1)
    seed(prediction_log, ddb, aws, model, version, 300, start=middle, end=END, booked_only=True, seed=2)
    summary = run(job())
    judged = summary.judged_against
    assert judged is not None and judged.version == version and (judged.predictions, judged.share) == (300, 0.75)
    assert judged.mixed is not None and f"{model.version} 100" in judged.mixed and "300 of 400" in judged.mixed
    assert judged.mixed in summary.warnings
    assert f"judged against version {version}'s validation" in summary.message
    assert summary.validation["auc"].value == VARIANT_BOOKED["auc"]["value"]


@pytest.mark.parametrize("configured", [True, False])
def test_a_version_the_registry_does_not_hold_is_judged_against_the_layer_with_the_reason(
    configured, job, registry, prediction_log, ddb, aws, model
):
    register_layer_champion(registry)
    seed(prediction_log, ddb, aws, model, "0123456789ab", 300, start=START, end=END, booked_only=True)
    summary = run(job(registry if configured else None))
    judged = summary.judged_against
    assert judged is not None and judged.scored_by == "0123456789ab"
    assert (judged.version, judged.source, judged.threshold) == (model.version, "layer", model.threshold)
    why = "does not hold version 0123456789ab" if configured else "no model registry configured"
    assert judged.fallback is not None and why in judged.fallback and judged.fallback in summary.warnings
    assert summary.validation["auc"].value == model.metadata["metrics"]["validation_approved"]["auc"]["value"]
    assert summary.verdict in ("ok", "degraded")


def test_a_registered_version_whose_figures_cannot_be_read_fails_the_run_rather_than_judge_by_another_model(
    job, registry, prediction_log, ddb, aws, model, tmp_path, s3
):
    version = register_variant(registry, tmp_path)
    # The artifact changed after registration: its sha256 no longer matches the card.
    s3.put_object(Bucket=registry.bucket, Key=version_prefix(version) + METADATA_FILE, Body=b'{"tampered": true}')
    seed(prediction_log, ddb, aws, model, version, 300, start=START, end=END, booked_only=True)
    summary = run(job())
    assert summary.verdict == "error" and summary.error == "registry_read_failed"
    assert version in summary.message and "sha256" in summary.message
    assert summary.rows == 300 and summary.report_id is None


def test_a_registered_version_without_a_calibration_map_gets_no_estimate_rather_than_the_layers(
    job, registry, prediction_log, ddb, aws, model, tmp_path
):
    folder, card = variant(tmp_path, 0.6)
    (folder / "calibration.json").unlink()
    registry.register(card, folder)
    seed(prediction_log, ddb, aws, model, card.version, 300, start=START, end=END, booked_only=True)
    summary = run(job())
    assert summary.judged_against is not None and summary.judged_against.source == "registry"
    assert summary.estimated == {} and summary.estimator is None
    assert f"version {card.version} has no calibration map: estimated figures not computed" in summary.warnings
