"""The comparison of a window: read through the one engine interface, then the pure figures and the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from creditwatch_analytics.comparison import decisions
from creditwatch_analytics.comparison.models import ComparisonFigures, Rule
from creditwatch_analytics.comparison.realized import realized
from creditwatch_analytics.comparison.verdict import judge
from creditwatch_analytics.lake.schema import ROW_EXTRAS, SAMPLE_KEY_SEED
from creditwatch_analytics.lake.source import WindowSample, WindowSource

# The features the comparison reads: the protected attributes' columns (creditwatch_analytics.groups).
PROTECTED_COLUMNS = ("personal_status_and_sex", "age_in_years", "foreign_worker")
APPROVE = "approve"


@dataclass(frozen=True)
class Window:
    """A window's shadow rows and labelled rows as frames, and how they were read."""

    shadow: pd.DataFrame
    labelled: pd.DataFrame
    rows_read: int
    sampled: bool
    engine: str


def sample_frame(sample: WindowSample) -> pd.DataFrame:
    """A window sample (the lake's Arrow table, or the table's rows) as one frame of the lake's columns."""
    if sample.table is not None:
        return pd.DataFrame(sample.table.to_pandas())
    names = ("prediction_id", "probability_good_credit", "decision", "model_version", *ROW_EXTRAS)
    columns: dict[str, list[Any]] = {n: [getattr(r, n) for r in sample.rows] for n in names}
    for feature in PROTECTED_COLUMNS:
        columns[feature] = [r.features.get(feature) for r in sample.rows]
    return pd.DataFrame(columns)


def read_window(source: WindowSource, start: datetime, end: datetime, max_rows: int, max_labelled: int) -> Window:
    """The window's scored records (the bottom-max_rows sample above it) and its predictions with matured outcomes."""
    sample = source.scored_sample(start, end, max_rows, SAMPLE_KEY_SEED)
    labelled = source.labelled(start, end, list(PROTECTED_COLUMNS), max_labelled, SAMPLE_KEY_SEED)
    table = labelled.table
    frame = pd.DataFrame(table.to_pandas()) if table.num_rows else pd.DataFrame(columns=table.column_names)
    return Window(
        shadow=sample_frame(sample),
        labelled=frame,
        rows_read=sample.rows_read,
        sampled=sample.rows_read > max_rows,
        engine=sample.engine,
    )


def compare(
    shadow: pd.DataFrame,
    labelled: pd.DataFrame,
    rule: Rule,
    *,
    age_cuts: Sequence[int],
    min_group_size: int,
    challenger_version: str | None = None,
) -> ComparisonFigures | None:
    """Every figure of the comparison and its verdict; None when no record carries a challenger's answer."""
    rows, version, misses = decisions.shadow_rows(shadow, challenger_version)
    if version is None or rows.empty:
        return None
    p_c = rows[decisions.CHAMPION_P].to_numpy(dtype=float)
    p_h = rows[decisions.CHALLENGER_P].to_numpy(dtype=float)
    a_c = (rows["decision"] == APPROVE).to_numpy()
    a_h = (rows["challenger_decision"] == APPROVE).to_numpy()
    champion_version = str(rows["model_version"].value_counts().idxmax())
    swaps = decisions.swap_set(a_c, a_h)
    figures = ComparisonFigures(
        champion_version=champion_version,
        challenger_version=version,
        shadow_rows=len(rows),
        shadow_misses=misses,
        score_psi=decisions.score_psi(p_c, p_h),
        swap_set=swaps,
        approval_rate={"champion": round(float(a_c.mean()), 6), "challenger": round(float(a_h.mean()), 6)},
        approval_rate_change=decisions.approval_change(swaps, rule.resamples, rule.seed),
        champion=decisions.side(champion_version, p_c, a_c, rows.get("first_reason")),
        challenger=decisions.side(version, p_h, a_h, rows.get("challenger_first_reason")),
        fairness=decisions.fairness(
            rows.reindex(columns=list(PROTECTED_COLUMNS)),
            a_c,
            a_h,
            age_cuts=age_cuts,
            min_group_size=min_group_size,
            resamples=rule.resamples,
            seed=rule.seed,
        ),
        days=decisions.days(rows.get("ts"), p_c, p_h, a_c, a_h),
    )
    matured = _matured(labelled, version)
    if len(matured):
        figures.realized = realized(
            (matured["outcome"] == "good").to_numpy(),
            matured[decisions.CHAMPION_P].to_numpy(dtype=float),
            (matured["decision"] == APPROVE).to_numpy(),
            matured[decisions.CHALLENGER_P].to_numpy(dtype=float),
            (matured["challenger_decision"] == APPROVE).to_numpy(),
            resamples=rule.resamples,
            seed=rule.seed,
        )
    figures.verdict, figures.reasons = judge(figures, rule)
    return figures


def _matured(labelled: pd.DataFrame, version: str) -> pd.DataFrame:
    """Labelled rows the challenger scored too, with an outcome."""
    if labelled.empty or "challenger_version" not in labelled:
        return labelled.iloc[:0]
    keep = (
        (labelled["challenger_version"] == version)
        & labelled["outcome"].notna()
        & labelled[decisions.CHALLENGER_P].notna()
        & labelled[decisions.CHAMPION_P].notna()
    )
    return labelled[np.asarray(keep, dtype=bool)]
