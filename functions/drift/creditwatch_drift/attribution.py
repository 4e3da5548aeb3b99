"""Attribution drift: whether what drives the decisions changed, even where the inputs look alike.

The model's exact Shapley contributions (the model layer's TreeSHAP) for the window's sample against
those of the training reference, which ship with the model: the mean |contribution| per feature, the
ranking change as SageMaker Model Monitor scores it (NDCG of the window's importance order, with the
reference's importances as relevance), and the mix of first reasons among refusals.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from creditwatch_drift.models import AttributionDrift, FeatureAttribution, ReasonShare
from creditwatch_model import REFERENCE_CONTRIBUTIONS_FILE, CreditModel, model_dir
from creditwatch_model.explain import first_reason

SHAP_PREFIX = "shap_"
NO_REASON = ""


def load_reference_contributions(model: CreditModel, directory: Path | None = None) -> pd.DataFrame:
    """The reference rows' contributions (`shap_<feature>`) and first reasons, row for row with reference.csv."""
    return pd.read_csv((directory or model_dir()) / REFERENCE_CONTRIBUTIONS_FILE, keep_default_na=False)


def ndcg(reference_importance: dict[str, float], current_order: list[str]) -> float:
    """NDCG of the current importance order, the reference's importances as relevance (1.0: same order)."""
    ideal = sorted(reference_importance.values(), reverse=True)
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    dcg = sum(reference_importance[name] / math.log2(i + 2) for i, name in enumerate(current_order))
    return dcg / idcg if idcg > 0 else 1.0


def _order(importance: dict[str, float], names: list[str]) -> list[str]:
    # Ties keep the schema's order, so the ranking is deterministic.
    return sorted(names, key=lambda n: (-importance[n], names.index(n)))


def _refusal_reasons(reasons: list[str], decisions: pd.Series) -> tuple[Counter[str], int]:
    refused = [r for r, d in zip(reasons, decisions, strict=True) if d == "refuse"]
    return Counter(r for r in refused if r != NO_REASON), len(refused)


def attribution_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    reference_contributions: pd.DataFrame,
    model: CreditModel,
    threshold: float,
    max_rows: int,
) -> AttributionDrift:
    """Contributions of (up to max_rows of) the window's sample against the reference's, with a verdict."""
    names = model.schema.names
    sample = current.iloc[:max_rows]
    _, contributions = model.explain(sample[names].to_dict("records"))
    ref = reference_contributions[[SHAP_PREFIX + n for n in names]].to_numpy(dtype=float)
    cur_importance = dict(zip(names, np.abs(contributions).mean(axis=0).tolist(), strict=True))
    ref_importance = dict(zip(names, np.abs(ref).mean(axis=0).tolist(), strict=True))
    cur_order, ref_order = _order(cur_importance, names), _order(ref_importance, names)
    score = ndcg(ref_importance, cur_order)
    cur_reasons, cur_refused = _refusal_reasons(first_reason(model.schema, contributions), sample["decision"])
    ref_reasons, ref_refused = _refusal_reasons(list(reference_contributions["first_reason"]), reference["decision"])
    shares = [
        ReasonShare(
            feature=n,
            share_current=round(cur_reasons[n] / cur_refused, 6) if cur_refused else None,
            share_reference=round(ref_reasons[n] / ref_refused, 6) if ref_refused else None,
        )
        for n in names
        if cur_reasons[n] or ref_reasons[n]
    ]
    shares.sort(key=lambda s: -(s.share_current or 0.0))
    return AttributionDrift(
        ndcg=round(score, 6),
        threshold=threshold,
        drifted=score < threshold,
        rows=len(sample),
        features=[
            FeatureAttribution(
                name=n,
                mean_abs_current=round(cur_importance[n], 6),
                mean_abs_reference=round(ref_importance[n], 6),
                rank_current=cur_order.index(n) + 1,
                rank_reference=ref_order.index(n) + 1,
            )
            for n in cur_order
        ],
        first_reasons=shares,
        refusals_current=cur_refused,
        refusals_reference=ref_refused,
    )
