"""The simulated population and its ground truth: recombined training applicants and a calibrated P(bad | x)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from creditwatch_model import REFERENCE_FILE, CreditModel, model_dir

DATA_CSV = Path(__file__).resolve().parents[3] / "data" / "german_credit.csv"
TARGET = "credit_risk"
# The feature whose effect on repayment the concept-drift scenario inverts (the truth's strongest).
CONCEPT_FEATURE = "status_of_existing_checking_account"
RIDGE = 3.0
# Each feature of a simulated applicant comes from another training applicant with this probability.
RECOMBINE = 0.35
# Applicants the truth is calibrated on (drawn with seed 0, whatever the plan's seed).
CALIBRATION_SAMPLE = 4000


def load_data(model: CreditModel, data_csv: Path = DATA_CSV) -> pd.DataFrame:
    """All rows of the data: the features as the API types them, and `credit_risk`."""
    data = pd.read_csv(data_csv, dtype={f.name: str for f in model.schema.features if f.is_categorical})
    for f in model.schema.features:
        if not f.is_categorical:
            data[f.name] = data[f.name].astype(int if f.dtype == "int" else float)
    return data[[*model.schema.names, TARGET]]


def load_reference(model: CreditModel, reference_csv: Path | None = None) -> pd.DataFrame:
    """The model's training applicants (its reference), typed as the API types them."""
    reference = pd.read_csv(
        reference_csv or model_dir() / REFERENCE_FILE,
        dtype={f.name: str for f in model.schema.features if f.is_categorical},
    )
    return reference[model.schema.names]


def recombine(
    base: Sequence[dict[str, Any]], n: int, rng: np.random.Generator, share: float = RECOMBINE
) -> list[dict[str, Any]]:
    """New applicants: each a random base one with every feature, with probability `share`, from another."""
    names = list(base[0])
    rows = rng.integers(0, len(base), size=n)
    donors = rng.integers(0, len(base), size=(n, len(names)))
    take = rng.random((n, len(names))) < share
    out = []
    for i in range(n):
        app = dict(base[int(rows[i])])
        for j in np.flatnonzero(take[i]):
            name = names[j]
            app[name] = base[int(donors[i, j])][name]
        out.append(app)
    return out


def applications(frame: pd.DataFrame, model: CreditModel) -> list[dict[str, Any]]:
    """Rows as the API takes them: snake_case names, ints, floats and code strings."""
    out = []
    for r in frame[model.schema.names].to_dict("records"):
        out.append(
            {
                f.name: str(r[f.name])
                if f.is_categorical
                else (int(r[f.name]) if f.dtype == "int" else float(r[f.name]))
                for f in model.schema.features
            }
        )
    return out


@dataclass(frozen=True)
class Truth:
    """P(bad | x): a logistic model on clipped, standardised features, tempered and offset (see module doc)."""

    columns: tuple[tuple[str, str | None], ...]  # (feature, code) for a one-hot column, (feature, None) numeric
    weights: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    low: dict[str, float]
    high: dict[str, float]
    temperature: float = 1.0
    offset: float = 0.0
    # Features whose effect is inverted (concept drift); their columns' weights change sign.
    inverted: tuple[str, ...] = ()

    def design(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """The standardised design matrix of applications."""
        x = np.zeros((len(apps), len(self.columns)))
        for j, (name, code) in enumerate(self.columns):
            if code is None:
                values = np.array([float(a[name]) for a in apps])
                values = np.clip(values, self.low[name], self.high[name])
                x[:, j] = np.log(values) if name == "credit_amount" else values
            else:
                x[:, j] = [1.0 if a[name] == code else 0.0 for a in apps]
        return (x - self.mean) / self.scale

    def logit(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """The fitted logit of P(bad), before temperature and offset."""
        w = self.weights
        if self.inverted:
            flip = np.array([-1.0 if name in self.inverted else 1.0 for name, _ in self.columns])
            w = w * flip
        return self.design(apps) @ w + self.intercept

    def bad_probability(self, apps: Sequence[dict[str, Any]]) -> np.ndarray:
        """P(bad | x) for each application."""
        return expit(self.logit(apps) / self.temperature + self.offset)


def fit_truth(frame: pd.DataFrame, model: CreditModel, ridge: float = RIDGE) -> Truth:
    """Ridge logistic regression of bad credit on all rows (scikit-learn, Newton-Cholesky: deterministic)."""
    columns: list[tuple[str, str | None]] = []
    for f in model.schema.features:
        if f.is_categorical:
            columns.extend((f.name, code) for code in list(f.codes)[1:])  # the first code is the baseline
        else:
            columns.append((f.name, None))
    numeric = [f.name for f in model.schema.features if not f.is_categorical]
    low = {n: float(frame[n].min()) for n in numeric}
    high = {n: float(frame[n].max()) for n in numeric}
    apps = applications(frame, model)
    raw = Truth(tuple(columns), np.zeros(len(columns)), 0.0, np.zeros(len(columns)), np.ones(len(columns)), low, high)
    x = raw.design(apps)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0  # codes that never occur (A47, A95)
    y = (frame[TARGET].to_numpy() == 0).astype(int)
    # sklearn's L2 term is ||w||^2 / (2C) against the summed log loss: C = 1 / ridge; the intercept is not penalised.
    fit = LogisticRegression(C=1.0 / ridge, solver="newton-cholesky", tol=1e-10, max_iter=100)
    fit.fit((x - mean) / scale, y)
    return replace(raw, weights=fit.coef_[0], intercept=float(fit.intercept_[0]), mean=mean, scale=scale)


def expected_auc(p_good: np.ndarray, p_bad: np.ndarray) -> float:
    """The ROC AUC that P(good) scores reach on outcomes drawn from P(bad), applicants drawn uniformly (exact)."""
    # Each applicant counts as good with weight 1 - P(bad) and as bad with weight P(bad).
    p_bad = np.asarray(p_bad, dtype=float)
    if not (p_bad.sum() and (1.0 - p_bad).sum()):
        return math.nan
    labels = np.concatenate([np.ones(len(p_good)), np.zeros(len(p_good))])
    weights = np.concatenate([1.0 - p_bad, p_bad])
    return float(roc_auc_score(labels, np.concatenate([p_good, p_good]), sample_weight=weights))


def _offset_for(truth: Truth, logit: np.ndarray, bad_rate: float) -> float:
    """The offset that gives the mean P(bad) `bad_rate` at the truth's temperature (bisection)."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if float(expit(logit / truth.temperature + mid).mean()) > bad_rate:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


def calibrate(
    truth: Truth, p_good: np.ndarray, apps: Sequence[dict[str, Any]], target_auc: float, bad_rate: float
) -> Truth:
    """The temperature and offset at which the scores' expected AUC is `target_auc` and the bad rate `bad_rate`."""
    logit = truth.logit(apps)

    def auc_at(t: float) -> tuple[float, Truth]:
        tempered = replace(truth, temperature=t)
        tempered = replace(tempered, offset=_offset_for(tempered, logit, bad_rate))
        return expected_auc(p_good, tempered.bad_probability(apps)), tempered

    lo, hi = 0.1, 10.0  # a sharper truth (small t) separates better: AUC falls as t grows
    best = truth
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        auc, best = auc_at(mid)
        if auc > target_auc:
            lo = mid
        else:
            hi = mid
    return best


def concept_truth(truth: Truth, apps: Sequence[dict[str, Any]], bad_rate: float) -> Truth:
    """The truth after the concept change: CONCEPT_FEATURE's effect inverted, the same bad rate."""
    changed = replace(truth, inverted=(CONCEPT_FEATURE,))
    return replace(changed, offset=_offset_for(changed, changed.logit(apps), bad_rate))


def validation_auc(model: CreditModel) -> float:
    """The model's validation AUC from its metadata (`metrics.validation.auc`, else the holdout's)."""
    metrics = model.metadata.get("metrics", {})
    validation = metrics.get("validation", {}).get("auc")
    if isinstance(validation, dict) and validation.get("value") is not None:
        return float(validation["value"])
    return float(metrics["holdout"]["roc_auc"])


@dataclass(frozen=True)
class World:
    """Everything the generator draws from: the model, the training applicants and the truth before and after."""

    model: CreditModel
    base: list[dict[str, Any]]
    truth: Truth
    changed_truth: Truth
    target_auc: float
    bad_rate: float


def build_world(model: CreditModel, data_csv: Path = DATA_CSV, reference_csv: Path | None = None) -> World:
    """Fit the truth on the data and calibrate it for the served model on applicants drawn as the history draws them."""
    data = load_data(model, data_csv)
    base = applications(load_reference(model, reference_csv), model)
    sample = recombine(base, CALIBRATION_SAMPLE, np.random.default_rng(0))
    bad_rate = float((data[TARGET] == 0).mean())
    target = validation_auc(model)
    truth = calibrate(fit_truth(data, model), model.predict_good(sample), sample, target, bad_rate)
    return World(model, base, truth, concept_truth(truth, sample, bad_rate), target, bad_rate)
