"""What training reads and fits: the data, its feature schema, the seed's hyper-parameters and pipeline."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from creditwatch_model import Feature, FeatureSchema, quality


# The original data is the repository's data/; the analytics image's Dockerfile copies it into its task root.
def _data_dir() -> Path:
    """The nearest `data/` above this file that holds the original data (the repository's, or the image's)."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "data" / "german_credit.csv").is_file():
            return folder / "data"
    raise FileNotFoundError(f"no data/german_credit.csv above {here}: the original training data is missing")


DATA_DIR = _data_dir()
DATA_CSV = DATA_DIR / "german_credit.csv"
CODES_CSV = DATA_DIR / "german_credit_codes.csv"
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


def load_data(path: Path = DATA_CSV) -> pd.DataFrame:
    """The German Credit data with coded categories as strings."""
    return pd.read_csv(path, dtype=str).pipe(_numeric_columns)


def _numeric_columns(df: pd.DataFrame) -> pd.DataFrame:
    for name, _, dtype, _ in NUMERICAL:
        df[name] = df[name].astype(float if dtype == "float" else int)
    df[TARGET] = df[TARGET].astype(int)
    return df


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
