"""Train the credit model and regenerate every artifact of the model layer, deterministically."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.tree import DecisionTreeClassifier

from creditwatch_model import (
    EXPLAIN_FILE,
    FOREST_FILE,
    METADATA_FILE,
    PIPELINE_FILE,
    REFERENCE_CONTRIBUTIONS_FILE,
    REFERENCE_FILE,
    CreditModel,
    Feature,
    FeatureSchema,
    PackedForest,
    quality,
)
from creditwatch_model.bins import PSI_BINS_FILE, build_bins, dump_bins
from creditwatch_model.calibration import CALIBRATION_FILE, Calibration, logit
from creditwatch_model.explain import ForestCover, first_reason

ROOT = Path(__file__).resolve().parents[2]
DATA_CSV = ROOT / "data" / "german_credit.csv"
CODES_CSV = ROOT / "data" / "german_credit_codes.csv"
TARGET = "credit_risk"
MODEL_NAME = "creditwatch-german-credit-rf"
SCHEMA_VERSION = "1"
RANDOM_STATE = 42
# Seed 001's hyper-parameters.
RF_PARAMS: dict[str, Any] = {
    "n_estimators": 100,
    "max_depth": 10,
    "min_samples_split": 20,
    "min_samples_leaf": 10,
    "random_state": RANDOM_STATE,
}
# UCI cost matrix: approving a bad applicant costs 5, refusing a good one costs 1.
COST_FALSE_APPROVE = quality.COST_FALSE_APPROVE
COST_FALSE_REFUSE = quality.COST_FALSE_REFUSE
# Validation intervals: Poisson bootstrap of the holdout, percentile, fixed seed.
VALIDATION_RESAMPLES = 1000
VALIDATION_SEED = 0
RISK_BANDS = {"low": 0.7, "medium": 0.4}

# (name, seed alias, kind, dtype, bounds) in the seed's API contract order per kind.
NUMERICAL: list[tuple[str, str, str, dict[str, float]]] = [
    ("duration_in_month", "Duration in month", "int", {"minimum": 1, "maximum": 120}),
    # The seed only asks for > 0; the cap keeps amounts where float32 (what the trees compare) is exact.
    ("credit_amount", "Credit amount", "float", {"exclusive_minimum": 0, "maximum": 1_000_000}),
    (
        "installment_rate_in_percentage_of_disposable_income",
        "Installment rate in percentage of disposable income",
        "int",
        {"minimum": 1, "maximum": 4},
    ),
    ("age_in_years", "Age in years", "int", {"minimum": 18, "maximum": 100}),
    (
        "number_of_existing_credits_at_this_bank",
        "Number of existing credits at this bank",
        "int",
        {"minimum": 1, "maximum": 4},
    ),
    (
        "number_of_people_being_liable_to_provide_maintenance_for",
        "Number of people being liable to provide maintenance for",
        "int",
        {"minimum": 1, "maximum": 2},
    ),
]
ORDINAL: list[tuple[str, str]] = [
    ("status_of_existing_checking_account", "Status of existing checking account"),
    ("credit_history", "Credit history"),
    ("savings_account_and_bonds", "Savings account/bonds"),
    ("present_employment_since", "Present employment since"),
    ("job", "Job"),
]
NOMINAL: list[tuple[str, str]] = [
    ("purpose", "Purpose"),
    ("personal_status_and_sex", "Personal status and sex"),
    ("other_debtors_or_guarantors", "Other debtors / guarantors"),
    ("property", "Property"),
    ("other_installment_plans", "Other installment plans"),
    ("housing", "Housing"),
    ("telephone", "Telephone"),
    ("foreign_worker", "foreign worker"),
]


def read_codes(path: Path = CODES_CSV) -> dict[str, dict[str, str]]:
    """Code table: column -> {code: meaning}, in the UCI order."""
    codes: dict[str, dict[str, str]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            codes.setdefault(row["column"], {})[row["code"]] = row["description"]
    return codes


def build_schema(codes: dict[str, dict[str, str]]) -> FeatureSchema:
    """The 19 features of seed 001's contract with their domains."""
    features: list[Feature] = []
    for name, alias, dtype, bounds in NUMERICAL:
        features.append(Feature(name=name, alias=alias, kind="numerical", dtype=dtype, **bounds))  # type: ignore[arg-type]
    for name, alias in ORDINAL:
        features.append(Feature(name=name, alias=alias, kind="ordinal", dtype="category", codes=codes[name]))
    for name, alias in NOMINAL:
        features.append(Feature(name=name, alias=alias, kind="nominal", dtype="category", codes=codes[name]))
    return FeatureSchema(version=SCHEMA_VERSION, features=tuple(features))


def build_pipeline(schema: FeatureSchema, n_jobs: int | None = None) -> Pipeline:
    """Column encoding (ordinal codes, one-hot nominal codes) then the seed's RandomForest."""
    ordinal = schema.by_kind("ordinal")
    nominal = schema.by_kind("nominal")
    # A forest splits on thresholds, so scaling numerical columns would change nothing: passthrough.
    encoder = ColumnTransformer(
        [
            ("numerical", "passthrough", [f.name for f in schema.by_kind("numerical")]),
            ("ordinal", OrdinalEncoder(categories=[list(f.codes) for f in ordinal]), [f.name for f in ordinal]),
            (
                "nominal",
                OneHotEncoder(categories=[list(f.codes) for f in nominal], handle_unknown="error", sparse_output=False),
                [f.name for f in nominal],
            ),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("encoder", encoder), ("classifier", RandomForestClassifier(**RF_PARAMS, n_jobs=n_jobs))])


def pack_forest(forest: RandomForestClassifier) -> PackedForest:
    """Flatten a fitted forest's trees into one PackedForest (leaves point to themselves)."""
    good = list(forest.classes_).index(1)
    features, thresholds, lefts, rights, values, roots = [], [], [], [], [], []
    offset = 0
    depth = 0
    for est in forest.estimators_:
        assert isinstance(est, DecisionTreeClassifier)
        tree = est.tree_
        n = tree.node_count
        idx = np.arange(n, dtype=np.int64)
        leaf = tree.children_left == -1
        vals = tree.value[:, 0, :]
        p_good = vals[:, good] / vals.sum(axis=1)
        features.append(np.where(leaf, 0, tree.feature))
        thresholds.append(np.where(leaf, np.inf, tree.threshold))
        lefts.append(np.where(leaf, idx, tree.children_left) + offset)
        rights.append(np.where(leaf, idx, tree.children_right) + offset)
        values.append(np.where(leaf, p_good, np.nan))
        roots.append(offset)
        offset += n
        depth = max(depth, int(tree.max_depth))
    return PackedForest(
        feature=np.concatenate(features).astype(np.int32),
        threshold=np.concatenate(thresholds).astype(np.float64),
        left=np.concatenate(lefts).astype(np.int32),
        right=np.concatenate(rights).astype(np.int32),
        value=np.concatenate(values).astype(np.float64),
        roots=np.asarray(roots, dtype=np.int32),
        depth=depth,
    )


def forest_cover(forest: RandomForestClassifier) -> ForestCover:
    """Node covers (weighted training samples, what shap's TreeExplainer weighs by) in packed order."""
    good = list(forest.classes_).index(1)
    covers, roots = [], []
    for est in forest.estimators_:
        tree = est.tree_
        covers.append(tree.weighted_n_node_samples)
        root = tree.value[0, 0, :]
        roots.append(root[good] / root.sum())
    return ForestCover(cover=np.concatenate(covers).astype(np.float64), root_value=np.asarray(roots, dtype=np.float64))


def expected_cost(y_true: np.ndarray, p_good: np.ndarray, threshold: float) -> float:
    """Mean UCI cost per application when approving at P(good) >= threshold."""
    approve = p_good >= threshold
    false_approve = np.sum(approve & (y_true == 0))
    false_refuse = np.sum(~approve & (y_true == 1))
    return float((COST_FALSE_APPROVE * false_approve + COST_FALSE_REFUSE * false_refuse) / len(y_true))


def choose_threshold(y_true: np.ndarray, p_good: np.ndarray) -> tuple[float, float]:
    """Threshold on P(good) of minimum expected cost, searched on a 0.005 grid."""
    grid = np.round(np.arange(0.30, 0.951, 0.005), 3)
    costs = [expected_cost(y_true, p_good, float(t)) for t in grid]
    best = int(np.argmin(costs))  # argmin keeps the lowest threshold among ties
    return float(grid[best]), float(costs[best])


def class_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix."""
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=[0, 1])
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 6),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 6),
                "recall": round(float(recall[i]), 6),
                "f1": round(float(f1[i]), 6),
                "support": int(support[i]),
            }
            for i, label in enumerate(["bad", "good"])
        },
        "confusion_matrix": {
            "labels": ["bad (0)", "good (1)"],
            "rows_are": "actual",
            "columns_are": "predicted",
            "matrix": cm.tolist(),
        },
    }


def fit_calibration(p_good: np.ndarray, y_true: np.ndarray) -> Calibration:
    """Sigmoid (Platt) map from P(good) to P(bad), fitted on out-of-fold predictions; isotonic compared by CV."""
    bad = 1 - y_true
    sigmoid = LogisticRegression(C=np.inf).fit(logit(p_good)[:, None], bad)
    cv = StratifiedKFold(n_splits=10, shuffle=True, random_state=RANDOM_STATE)
    losses: dict[str, list[float]] = {"sigmoid": [], "isotonic": []}
    for fit_rows, check_rows in cv.split(p_good, bad):
        s = LogisticRegression(C=np.inf).fit(logit(p_good[fit_rows])[:, None], bad[fit_rows])
        losses["sigmoid"].append(log_loss(bad[check_rows], s.predict_proba(logit(p_good[check_rows])[:, None])[:, 1]))
        iso = IsotonicRegression(out_of_bounds="clip", increasing=False).fit(p_good[fit_rows], bad[fit_rows])
        losses["isotonic"].append(log_loss(bad[check_rows], iso.predict(p_good[check_rows]), labels=[0, 1]))
    full = IsotonicRegression(out_of_bounds="clip", increasing=False).fit(p_good, bad)
    return Calibration(
        method="sigmoid",
        slope=float(sigmoid.coef_[0, 0]),
        intercept=float(sigmoid.intercept_[0]),
        info={
            "maps": "P(bad) = 1 / (1 + exp(-(slope * logit(P(good)) + intercept)))",
            "fitted_on": f"5-fold out-of-fold P(good) of the training split ({len(y_true)} rows)",
            "why": (
                "two parameters, monotone, never exactly 0 or 1, and the lower 10-fold cross-validated log loss "
                "on the out-of-fold predictions; isotonic regression (NannyML's default) overfits a few hundred "
                "rows: its end steps claim certainty (isotonic_end_steps), so a window of confident scores "
                "would be estimated with no bad outcomes at all"
            ),
            "cv_log_loss": {name: round(float(np.mean(v)), 6) for name, v in losses.items()},
            "isotonic_end_steps": {
                "p_bad_at_lowest_p_good": round(float(full.predict(p_good.min(keepdims=True))[0]), 6),
                "p_bad_at_highest_p_good": round(float(full.predict(p_good.max(keepdims=True))[0]), 6),
            },
        },
    )


def calibration_check(calibration: Calibration, p_good: np.ndarray, y_true: np.ndarray) -> dict[str, Any]:
    """Served vs calibrated P(bad) on the holdout: mean, Brier and ECE against the observed bad rate."""
    bad = 1 - y_true
    served, calibrated = 1 - p_good, calibration.bad_probability(p_good)

    def ece(p_bad: np.ndarray) -> float:
        band = quality.band_index(p_bad)
        gaps = np.bincount(band, weights=p_bad - bad, minlength=quality.BANDS)
        return float(np.abs(gaps).sum() / len(bad))

    return {
        "rows": len(bad),
        "observed_bad_rate": round(float(bad.mean()), 6),
        "served": {
            "mean_p_bad": round(float(served.mean()), 6),
            "brier": round(float(np.mean((served - bad) ** 2)), 6),
            "ece": round(ece(served), 6),
        },
        "calibrated": {
            "mean_p_bad": round(float(calibrated.mean()), 6),
            "brier": round(float(np.mean((calibrated - bad) ** 2)), 6),
            "ece": round(ece(calibrated), 6),
        },
    }


@dataclass(frozen=True)
class TrainingResult:
    """What a training run wrote and measured."""

    out_dir: Path
    metadata: dict[str, Any]


def load_data(path: Path = DATA_CSV) -> pd.DataFrame:
    """The German Credit data with coded categories as strings."""
    return pd.read_csv(path, dtype=str).pipe(_numeric_columns)


def _numeric_columns(df: pd.DataFrame) -> pd.DataFrame:
    for name, _, dtype, _ in NUMERICAL:
        df[name] = df[name].astype(float if dtype == "float" else int)
    df[TARGET] = df[TARGET].astype(int)
    return df


def train(out_dir: Path, trained_at: str | None = None) -> TrainingResult:
    """Fit, evaluate, pack and write pipeline.joblib, forest.npz, calibration.json, metadata.json and reference.csv."""
    codes = read_codes()
    schema = build_schema(codes)
    df = load_data()
    x = df[schema.names]
    y = df[TARGET].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=RANDOM_STATE)

    # Threshold chosen on out-of-fold training predictions, so the holdout stays untouched.
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=RANDOM_STATE)
    oof = cross_val_predict(build_pipeline(schema), x_train, y_train, cv=cv, method="predict_proba")[:, 1]
    threshold, oof_cost = choose_threshold(y_train, oof)
    # The estimator's calibration map, on the same out-of-fold predictions: served P(good) stays as it is.
    calibration = fit_calibration(oof, y_train)

    pipeline = build_pipeline(schema)
    pipeline.fit(x_train, y_train)
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
    version = _content_version(out_dir / FOREST_FILE, schema, threshold)
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
    calibration.save(out_dir)
    (out_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    return TrainingResult(out_dir=out_dir, metadata=metadata)


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


def _content_version(forest_path: Path, schema: FeatureSchema, threshold: float) -> str:
    """Version = hash of what decides an answer: the forest, the schema and the threshold."""
    h = hashlib.sha256()
    h.update(forest_path.read_bytes())
    h.update(json.dumps(schema.to_dict(), sort_keys=True).encode())
    h.update(repr(threshold).encode())
    return h.hexdigest()[:12]


def _library_versions() -> dict[str, str]:
    import sklearn

    return {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def perturbed_rows(model: Any, n: int, seed: int) -> pd.DataFrame:
    """Random applications over the whole declared domain (every code, every range), for parity checks."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for f in model.schema.features:
        if f.is_categorical:
            cols[f.name] = rng.choice(list(f.codes), size=n)
        elif f.dtype == "int":
            cols[f.name] = rng.integers(int(f.minimum), int(f.maximum) + 1, size=n)
        else:
            cols[f.name] = np.round(rng.lognormal(8, 0.8, size=n), 2)
    return pd.DataFrame(cols)[model.schema.names]
