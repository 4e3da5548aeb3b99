"""A version's model card from its training run: both holdouts' figures with intervals and fairness on them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditwatch_analytics.training.data import (
    RF_PARAMS,
    VALIDATION_RESAMPLES,
    VALIDATION_SEED,
    build_schema,
    read_codes,
)
from creditwatch_common.model_card import GroupFairness, Holdout, ModelCard, TrainingData
from creditwatch_model import METADATA_FILE, CreditModel, load_model, quality

ORIGINAL_POPULATION = "UCI German Credit holdout: 30% stratified split, every applicant labelled (300 rows)"
RECENT_POPULATION = (
    "the latest matured outcomes by prediction time, kept out of training: applicants whose outcome the lender "
    "observed (booked loans, unless outcomes of declined applicants are known too)"
)
APPROVED_POPULATION = "the rows of this holdout the model approves, as its booked loans (approval_rate left out)"
# Figures need both outcomes among at least this many rows; fairness groups at least this many rows each.
MIN_HOLDOUT_ROWS = 30
MIN_GROUP_ROWS = 30
AGE_CUTS = (25,)


def holdout(rows: pd.DataFrame, good: np.ndarray, model: CreditModel, population: str) -> Holdout:
    """The model's figures on labelled rows, each with its 95% Poisson-bootstrap interval (the validation method).

    `approved`: the same figures on the rows the model approves (approval_rate left out: 1 by construction),
    what booked loans are judged against; none when those rows are too few or hold one outcome only.
    """
    n = len(good)
    if n < MIN_HOLDOUT_ROWS or len(set(good.tolist())) < 2:
        return Holdout(rows=n, population=population, note=_too_few(good))
    p = model.predict_good(rows[model.schema.names].to_dict("records"))
    figures = quality.realized(p, good, threshold=model.threshold, resamples=VALIDATION_RESAMPLES, seed=VALIDATION_SEED)
    booked = p >= model.threshold
    return Holdout(
        rows=n, population=population, figures=figures, approved=_approved(p[booked], good[booked], model.threshold)
    )


def _approved(p: np.ndarray, good: np.ndarray, threshold: float) -> Holdout:
    population = APPROVED_POPULATION
    if len(good) < MIN_HOLDOUT_ROWS or len(set(good.tolist())) < 2:
        return Holdout(rows=len(good), population=population, note=_too_few(good))
    figures = quality.realized(p, good, threshold=threshold, resamples=VALIDATION_RESAMPLES, seed=VALIDATION_SEED)
    figures.pop("approval_rate", None)
    return Holdout(rows=len(good), population=population, figures=figures)


def _too_few(good: np.ndarray) -> str:
    n = len(good)
    return f"{n} rows{'' if n == 0 else ', ' + str(int(good.sum())) + ' good'}: too few (or one outcome only)"


def fairness(
    name: str,
    rows: pd.DataFrame,
    model: CreditModel,
    resamples: int = VALIDATION_RESAMPLES,
    seed: int = VALIDATION_SEED,
) -> list[GroupFairness]:
    """Disparate impact (lowest group approval rate / highest) per protected attribute, with a bootstrap interval."""
    from creditwatch_analytics.groups import protected_groups

    if rows.empty:
        return []
    approved = (model.predict_good(rows[model.schema.names].to_dict("records")) >= model.threshold).astype(float)
    weights = np.random.default_rng(seed).poisson(1.0, size=(resamples, len(rows))).astype(float)
    out = []
    for attribute, groups in protected_groups(rows.reset_index(drop=True), AGE_CUTS).items():
        labels = groups.to_numpy(dtype=object)
        sizes = {g: int((labels == g).sum()) for g in sorted({x for x in labels if x is not None})}
        judged = [g for g, size in sizes.items() if size >= MIN_GROUP_ROWS]
        rates = {g: round(float(approved[labels == g].mean()), 6) for g in judged}
        if len(judged) < 2:
            note = f"not judged: fewer than two groups of at least {MIN_GROUP_ROWS} rows"
            out.append(
                GroupFairness(
                    holdout=name,
                    attribute=attribute,
                    approval_rates=rates,
                    rows=sizes,
                    disparate_impact=None,
                    note=note,
                )
            )
            continue
        point = _ratio(np.array([rates[g] for g in judged]))
        draws = np.column_stack(
            [(weights[:, labels == g] @ approved[labels == g]) / weights[:, labels == g].sum(axis=1) for g in judged]
        )
        ratios = np.array([_ratio(row) for row in draws])
        ratios = ratios[np.isfinite(ratios)]
        low, high = np.percentile(ratios, [2.5, 97.5]) if len(ratios) else (np.nan, np.nan)
        out.append(
            GroupFairness(
                holdout=name,
                attribute=attribute,
                approval_rates=rates,
                rows=sizes,
                disparate_impact=_round(point),
                low=_round(low),
                high=_round(high),
            )
        )
    return out


def _ratio(rates: np.ndarray) -> float:
    top = float(np.max(rates))
    return float(np.min(rates)) / top if top > 0 else float("nan")


def _round(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def original_holdout(metadata: dict[str, Any], rows: int) -> Holdout:
    """The original holdout's figures as the training run wrote them (metadata), the approved rows' beside them."""
    metrics = metadata["metrics"]
    approved = metrics.get("validation_approved")
    return Holdout(
        rows=rows,
        population=ORIGINAL_POPULATION,
        figures=metrics["validation"],
        approved=Holdout(
            rows=int(metrics.get("validation_approved_method", {}).get("rows", 0)),
            population=APPROVED_POPULATION,
            figures=approved,
        )
        if approved
        else None,
    )


def parameters(metadata: dict[str, Any]) -> dict[str, Any]:
    """What a card says about how the version decides: the forest's hyper-parameters, threshold and rule."""
    return {
        "algorithm": metadata.get("algorithm"),
        "hyperparameters": metadata.get("hyperparameters", RF_PARAMS),
        "threshold": metadata["decision"]["threshold"],
        "how_chosen": metadata["decision"].get("how_chosen"),
        "cost_matrix": metadata["decision"].get("cost_matrix"),
    }


def original_holdout_rows() -> tuple[pd.DataFrame, np.ndarray]:
    """The original holdout (300 rows) and its outcomes (1 good)."""
    from creditwatch_analytics.training.run import original_split

    _, x_test, _, y_test = original_split(build_schema(read_codes()))
    return x_test.reset_index(drop=True), y_test


def layer_card(artifacts_dir: Path, *, created_by: str, why: str, now: datetime | None = None) -> ModelCard:
    """The card of the model the layer ships (the first champion): trained on the original data alone."""
    from creditwatch_analytics.training.run import fingerprint, original_split

    metadata = json.loads((artifacts_dir / METADATA_FILE).read_text())
    model = load_model(str(artifacts_dir))
    x_train, x_test, y_train, y_test = original_split(build_schema(read_codes()))
    x_test = x_test.reset_index(drop=True)
    return ModelCard(
        version=metadata["version"],
        name=metadata["name"],
        created_by=created_by,
        created_at=now or datetime.now(UTC),
        why=why,
        training=TrainingData(
            fingerprint=fingerprint(x_train, y_train, None),
            rows_by_source={"original": len(y_train)},
            selection="the original data only: every applicant labelled, no selection by decision",
        ),
        parameters=parameters(metadata),
        validation={
            "original": original_holdout(metadata, len(y_test)),
            "recent": Holdout(
                rows=0, population=RECENT_POPULATION, note="none: trained before any outcome was recorded"
            ),
        },
        fairness=fairness("original", x_test, model),
    )
