"""Train the credit model and regenerate every artifact of the model layer, deterministically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline

from creditwatch_analytics.training.data import (
    COST_FALSE_APPROVE,
    COST_FALSE_REFUSE,
    MODEL_NAME,
    RANDOM_STATE,
    RF_PARAMS,
    RISK_BANDS,
    TARGET,
    VALIDATION_RESAMPLES,
    VALIDATION_SEED,
    build_pipeline,
    build_schema,
    load_data,
    read_codes,
)
from creditwatch_analytics.training.evaluate import (
    calibration_check,
    choose_threshold,
    class_metrics,
    expected_cost,
    fit_calibration,
)
from creditwatch_analytics.training.forest import content_version, forest_cover, pack_forest
from creditwatch_analytics.training.replay import write_replay
from creditwatch_common.replay import REPLAY_FILE
from creditwatch_model import (
    EXPLAIN_FILE,
    FOREST_FILE,
    METADATA_FILE,
    PIPELINE_FILE,
    REFERENCE_CONTRIBUTIONS_FILE,
    REFERENCE_FILE,
    CreditModel,
    FeatureSchema,
    quality,
)
from creditwatch_model.bins import PSI_BINS_FILE, build_bins, dump_bins
from creditwatch_model.calibration import CALIBRATION_FILE
from creditwatch_model.canonical import write_json
from creditwatch_model.explain import first_reason
from creditwatch_model.novelty import NOVELTY_FILE, QUANTILE, Novelty, fit_novelty


@dataclass(frozen=True)
class TrainingResult:
    """What a training run wrote and measured."""

    out_dir: Path
    metadata: dict[str, Any]
    # sha256 of the rows fitted (features, label, weight, in order) and how many came from each source.
    fingerprint: str = ""
    rows_by_source: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtraRows:
    """Labelled rows fitted beside the original training split (matured outcomes), each with its weight."""

    features: pd.DataFrame  # the schema's columns, typed as load_data types them
    target: np.ndarray  # 1 good, 0 bad
    weights: np.ndarray
    source: str = "matured_outcomes"
    # What metadata.json says about them (window, weights, selection handling).
    about: dict[str, Any] = field(default_factory=dict)


def original_split(schema: FeatureSchema) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """The UCI data's stratified 70/30 split (x_train, x_test, y_train, y_test): every version's original holdout."""
    df = load_data()
    x = df[schema.names]
    y = df[TARGET].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=RANDOM_STATE)
    return x_train, x_test, y_train, y_test


def fingerprint(x: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None) -> str:
    """sha256 of rows as fitted: the same rows in the same order (and weights) give the same fingerprint."""
    frame = x.reset_index(drop=True).copy()
    frame[TARGET] = y
    frame["_weight"] = np.ones(len(y)) if weights is None else np.round(weights, 12)
    return hashlib.sha256(frame.to_csv(index=False, lineterminator="\n").encode()).hexdigest()


def train(out_dir: Path, trained_at: str | None = None, extra: ExtraRows | None = None) -> TrainingResult:
    """Fit, evaluate, pack and write pipeline.joblib, forest.npz, calibration.json, metadata.json and reference.csv.

    `extra`: labelled rows fitted beside the original training split, weighted (a challenger); the holdout,
    the reference and the parity checks stay the original data's.
    """
    codes = read_codes()
    schema = build_schema(codes)
    df = load_data()
    x = df[schema.names]
    x_train, x_test, y_train, y_test = original_split(schema)
    x_fit, y_fit, w_fit = x_train, y_train, None
    if extra is not None and len(extra.target):
        x_fit = pd.concat([x_train, extra.features[schema.names]], ignore_index=True)
        y_fit = np.concatenate([y_train, extra.target.astype(int)])
        w_fit = np.concatenate([np.ones(len(y_train)), extra.weights.astype(float)])
    fit_params = {} if w_fit is None else {"classifier__sample_weight": w_fit}

    # Threshold chosen on out-of-fold training predictions, so the holdout stays untouched.
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    oof = cross_val_predict(
        build_pipeline(schema), x_fit, y_fit, cv=cv, method="predict_proba", params=fit_params or None
    )[:, 1]
    threshold, oof_cost = choose_threshold(y_fit, oof, w_fit)
    # The estimator's calibration map, on the same out-of-fold predictions: served P(good) stays as it is.
    calibration = fit_calibration(oof, y_fit)

    pipeline = build_pipeline(schema)
    pipeline.fit(x_fit, y_fit, **fit_params)
    forest = pack_forest(pipeline.named_steps["classifier"])
    cover = forest_cover(pipeline.named_steps["classifier"])

    out_dir.mkdir(parents=True, exist_ok=True)
    forest.save(out_dir / FOREST_FILE)
    cover.save(out_dir / EXPLAIN_FILE)
    joblib.dump(pipeline, out_dir / PIPELINE_FILE, compress=3)

    p_test = pipeline.predict_proba(x_test)[:, 1]
    holdout = {
        "rows": len(y_test),
        "roc_auc": round(float(roc_auc_score(y_test, p_test)), 6),
        "at_threshold": class_metrics(y_test, (p_test >= threshold).astype(int)),
        "at_0_5": class_metrics(y_test, (p_test >= 0.5).astype(int)),
        "expected_cost_at_threshold": round(expected_cost(y_test, p_test, threshold), 6),
        "expected_cost_at_0_5": round(expected_cost(y_test, p_test, 0.5), 6),
    }
    validation = quality.realized(
        p_test, y_test, threshold=threshold, resamples=VALIDATION_RESAMPLES, seed=VALIDATION_SEED
    )
    # The same figures on the holdout rows the model approves: the booked loans a lender sees outcomes for.
    booked = p_test >= threshold
    validation_approved = {
        name: figure
        for name, figure in quality.realized(
            p_test[booked], y_test[booked], threshold=threshold, resamples=VALIDATION_RESAMPLES, seed=VALIDATION_SEED
        ).items()
        if name != "approval_rate"  # 1 by construction
    }
    version = content_version(forest, schema, threshold)
    metadata: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": version,
        "trained_at": trained_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "algorithm": "RandomForestClassifier",
        "hyperparameters": RF_PARAMS,
        "training": {
            "data": "UCI Statlog (German Credit Data), data/german_credit.csv, CC BY 4.0",
            "rows": len(df),
            "split": "stratified 70/30, random_state 42",
            "train_rows": len(y_train),
            "test_rows": len(y_test),
            "libraries": _library_versions(),
            **({extra.source: {"rows": len(extra.target), **extra.about}} if extra is not None else {}),
        },
        "feature_schema": schema.to_dict(),
        "target": {"name": TARGET, "positive_class": 1, "meaning": {"1": "good credit", "0": "bad credit"}},
        "decision": {
            "threshold": threshold,
            "rule": "approve (prediction 1) when probability_good_credit >= threshold, else refuse (0)",
            "how_chosen": (
                "minimum expected cost under the UCI cost matrix (approve a bad applicant = 5, "
                "refuse a good one = 1) on 5-fold out-of-fold predictions of the training split, "
                "grid 0.300-0.950 step 0.005"
            ),
            "cost_matrix": {"false_approve": COST_FALSE_APPROVE, "false_refuse": COST_FALSE_REFUSE},
            "out_of_fold_expected_cost": round(oof_cost, 6),
        },
        "risk_bands": RISK_BANDS,
        "confidence": "HIGH if |P(good) - 0.5| > 0.2, MEDIUM if > 0.1, else LOW (seed 000)",
        "metrics": {
            "holdout": holdout,
            # The figures the quality job compares a cohort with (creditwatch_model.quality's definitions).
            "validation": validation,
            "validation_method": {
                "rows": len(y_test),
                "what": "holdout split at the decision threshold; positive = good, approved = P(good) >= threshold",
                "interval": f"{quality.CONFIDENCE:.0%} percentile, Poisson bootstrap",
                "resamples": VALIDATION_RESAMPLES,
                "seed": VALIDATION_SEED,
            },
            # What the quality job compares booked loans with (approved applicants with outcomes): their AUC is
            # lower than over all applicants (a narrower range of scores) and, on few rows, its interval wider.
            "validation_approved": validation_approved,
            "validation_approved_method": {
                "rows": int(booked.sum()),
                "bad_rows": int((y_test[booked] == 0).sum()),
                "what": (
                    "holdout rows the model approves (P(good) >= threshold), as booked loans; expected_cost is per "
                    "booked loan (5 x bad rate: a booked loan cannot be a refused good applicant)"
                ),
                "interval": f"{quality.CONFIDENCE:.0%} percentile, Poisson bootstrap",
                "resamples": VALIDATION_RESAMPLES,
                "seed": VALIDATION_SEED,
            },
        },
        "calibration": {
            "artifact": CALIBRATION_FILE,
            "method": calibration.method,
            "what": "calibrated P(bad) from the served P(good), for estimated quality before outcomes (CBPE)",
            "holdout_check": calibration_check(calibration, p_test, y_test),
        },
        "serving": {
            "artifact": FOREST_FILE,
            "engine": "numpy tree traversal (float32 inputs vs float64 thresholds, as scikit-learn)",
            "trees": forest.n_trees,
            "nodes": int(forest.feature.shape[0]),
            "depth": forest.depth,
        },
        "reference": {"file": REFERENCE_FILE, "rows": len(y_train), "what": "training split with model outputs"},
    }

    model = CreditModel(metadata, forest, cover=cover)
    _check_parity(model, pipeline, x)
    # The explanation section is written after the parity checks, which need the model itself.
    base_value, _ = model.explain(x.iloc[:1].to_dict("records"))
    metadata["explanation"] = {
        "method": (
            "exact TreeSHAP, path-dependent (shap.TreeExplainer's default for a random forest): node cover = "
            "weighted training samples, P(good) averaged over the trees; one-hot columns summed per feature"
        ),
        "artifact": EXPLAIN_FILE,
        "base_value": base_value,
        "reference_contributions": REFERENCE_CONTRIBUTIONS_FILE,
    }
    reference = x_train.reset_index(drop=True).copy()
    scores = model.score(reference.to_dict("records"))
    reference["probability_good_credit"] = [round(s.probability_good_credit, 10) for s in scores]
    reference["decision"] = [s.decision for s in scores]
    reference[TARGET] = y_train
    reference.to_csv(out_dir / REFERENCE_FILE, index=False, lineterminator="\n")
    _reference_contributions(model, x_train).to_csv(
        out_dir / REFERENCE_CONTRIBUTIONS_FILE, index=False, lineterminator="\n"
    )
    # Frozen from the reference as written (P(good) rounded as in reference.csv), so a drift run that
    # recounts reference.csv into these bins finds the shares shipped here.
    dump_bins(
        build_bins(pd.read_csv(out_dir / REFERENCE_FILE, dtype=_category_dtypes(schema)), schema),
        out_dir / PSI_BINS_FILE,
        version,
    )
    metadata["stability"] = {
        "artifact": PSI_BINS_FILE,
        "what": (
            "population stability (PSI) bins frozen from the reference: deciles for numbers and P(good), "
            "codes for categories"
        ),
    }
    # The novelty rule's distance and bound (ReviewNovelty): fitted on the training split, bound on the holdout.
    fit_novelty(schema, x_train.to_dict("records"), x_test.to_dict("records")).save(out_dir / NOVELTY_FILE)
    novelty = Novelty.load(out_dir / NOVELTY_FILE, schema)
    metadata["novelty"] = {
        "artifact": NOVELTY_FILE,
        "what": (
            "Mahalanobis distance from the training split (numbers standardised, categories one-hot, "
            "Ledoit-Wolf shrunk covariance); bound at the holdout's quantile"
        ),
        "quantile": QUANTILE,
        "bound": round(novelty.bound, 6),
        "holdout_share_above": round(float((novelty.scores(x_test.to_dict("records")) > novelty.bound).mean()), 6),
    }
    # The deployment gate's frozen replay set: the holdout's applications and this model's answers.
    write_replay(model, x_test, out_dir)
    metadata["replay"] = {"artifact": REPLAY_FILE, "rows": len(x_test), "what": "the deployment gate's replay set"}
    calibration.save(out_dir)
    write_json(out_dir / METADATA_FILE, metadata)
    sources = {"original": len(y_train), **({extra.source: len(extra.target)} if extra is not None else {})}
    return TrainingResult(out_dir, metadata, fingerprint(x_fit, y_fit, w_fit), sources)


def _category_dtypes(schema: FeatureSchema) -> dict[str, type]:
    return {f.name: str for f in schema.features if f.is_categorical}


def _reference_contributions(model: CreditModel, x_train: pd.DataFrame) -> pd.DataFrame:
    """Each reference row's contributions (`shap_<feature>`) and first reason, row for row with reference.csv."""
    records = x_train.reset_index(drop=True).to_dict("records")
    base_value, phi = model.explain(records)
    gap = float(np.max(np.abs(base_value + phi.sum(axis=1) - model.predict_good(records))))
    if gap > 1e-9:
        raise RuntimeError(f"contributions do not add up to P(good): off by {gap}")
    out = pd.DataFrame(np.round(phi, 12), columns=[f"shap_{name}" for name in model.schema.names])
    out["first_reason"] = first_reason(model.schema, phi)
    return out


def _check_parity(model: CreditModel, pipeline: Pipeline, x: pd.DataFrame) -> None:
    """Refuse to write artifacts whose serving path disagrees with scikit-learn."""
    ours = model.predict_good(x.to_dict("records"))
    theirs = pipeline.predict_proba(x)[:, 1]
    gap = float(np.max(np.abs(ours - theirs)))
    if gap > 1e-9:
        raise RuntimeError(f"packed forest disagrees with the pipeline by {gap}")


def _library_versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__}
