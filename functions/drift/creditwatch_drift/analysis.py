"""Turns logged predictions into a DataFrame and compares it with the reference using Evidently."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from creditwatch_analytics.sampling import bottom_k
from creditwatch_common.records import ScoredRow
from creditwatch_drift.models import FeatureDrift, OutputDrift
from creditwatch_model import CreditModel

PROBABILITY = "probability_good_credit"
DECISION = "decision"
_METHOD = re.compile(r"method=([^,)]+)")


@dataclass
class CurrentData:
    """The window's rows, ready for Evidently, with what was noticed on the way."""

    frame: pd.DataFrame
    rows_read: int
    sampled: bool
    model_versions: dict[str, int]


def sample_stream(rows: Iterable[ScoredRow], k: int, seed: int = 0) -> tuple[list[ScoredRow], int, Counter[str]]:
    """A uniform sample of k records from a stream of any length, the same whatever its order.

    Returns the sample (in sample-key order), how many records streamed by, and their model versions.
    """
    # Bottom-k on the ids' 48 random bits (mixed with the seed): memory is k records, not the
    # window, and the parallel reader's order does not change which records are kept. Every window
    # engine takes the same sample (creditwatch_analytics.sampling).
    return bottom_k(rows, k, seed)


def current_frame(rows: Iterable[ScoredRow], model: CreditModel, max_rows: int, seed: int = 0) -> CurrentData:
    """Flatten log records (features map + outputs) into one column per feature, sampled to max_rows."""
    kept, rows_read, versions = sample_stream(rows, max_rows, seed)
    return sample_frame(kept, rows_read, dict(versions), model, max_rows)


def sample_frame(
    kept: list[ScoredRow] | Any, rows_read: int, versions: dict[str, int], model: CreditModel, max_rows: int
) -> CurrentData:
    """A window's sample as the frame Evidently gets: one column per feature, then the outputs.

    `kept` is rows, or an Arrow table of the same columns (the lake's sample, converted column-wise).
    """
    sampled = rows_read > max_rows
    names = model.schema.names
    columns = [*names, PROBABILITY, DECISION]
    if isinstance(kept, list):
        records = []
        for r in kept:
            features = r.features
            rec = {n: features.get(n) for n in names}
            rec[PROBABILITY] = r.probability_good_credit
            rec[DECISION] = r.decision
            records.append(rec)
        frame = pd.DataFrame.from_records(records, columns=columns)
    else:
        frame = kept.select([c for c in columns if c in kept.column_names]).to_pandas()
        frame = frame.reindex(columns=columns)  # a feature the lake does not hold: empty, as from the table
    for f in model.schema.features:
        if f.is_categorical:
            frame[f.name] = frame[f.name].astype("object")
        else:
            frame[f.name] = pd.to_numeric(frame[f.name], errors="coerce")
    frame[PROBABILITY] = pd.to_numeric(frame[PROBABILITY], errors="coerce")
    return CurrentData(frame=frame, rows_read=rows_read, sampled=sampled, model_versions=versions)


def empty_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns with no value at all in the window (Evidently refuses them: 'An empty column was provided')."""
    return [c for c in columns if frame[c].notna().sum() == 0]


def unknown_categories(frame: pd.DataFrame, model: CreditModel) -> dict[str, list[str]]:
    """Codes seen in the window that the model's schema does not know (e.g. from another model version)."""
    out = {}
    for f in model.schema.features:
        if f.is_categorical:
            seen = set(frame[f.name].dropna().astype(str).unique())
            unknown = sorted(seen - set(f.codes))
            if unknown:
                out[f.name] = unknown
    return out


def _method_of(metric_name: str) -> str | None:
    m = _METHOD.search(metric_name)
    return m.group(1) if m else None


def _verdict(name: str, kind: str, metric: dict[str, Any] | None) -> FeatureDrift:
    if metric is None:
        return FeatureDrift(
            name=name,
            kind=kind,
            test=None,
            statistic=None,
            value=None,
            threshold=None,
            drifted=False,
            note="not tested",
        )
    config = metric.get("config", {})
    method = str(config.get("method") or _method_of(metric.get("metric_name", "")) or "")
    threshold = config.get("threshold")
    value = metric.get("value")
    value_f = float(value) if isinstance(value, int | float) else None
    statistic = "p_value" if "p_value" in method else "distance"
    if value_f is None or threshold is None:
        drifted = False
    elif statistic == "p_value":
        drifted = value_f < float(threshold)  # small p-value: distributions differ
    else:
        drifted = value_f >= float(threshold)  # large distance: distributions differ
    return FeatureDrift(
        name=name,
        kind=kind,
        test=method,
        statistic=statistic,
        value=value_f,
        threshold=float(threshold) if threshold is not None else None,
        drifted=drifted,
    )


@dataclass
class Analysis:
    """What Evidently found, and the snapshot that renders the HTML report."""

    features: list[FeatureDrift]
    drift_share: float
    dataset_drift: bool
    outputs: OutputDrift
    snapshot: Any


def analyse(
    current: pd.DataFrame, reference: pd.DataFrame, model: CreditModel, threshold: float, skip: list[str]
) -> Analysis:
    """Run DataDriftPreset on the features and ValueDrift on the outputs; current comes first."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    features = [f for f in model.schema.features if f.name not in skip]
    numerical = [f.name for f in features if not f.is_categorical]
    categorical = [f.name for f in features if f.is_categorical]
    names = [f.name for f in features]
    out_metrics: list[Any] = []
    has_outputs = current[PROBABILITY].notna().any()
    if has_outputs:
        out_metrics = [ValueDrift(column=PROBABILITY), ValueDrift(column=DECISION)]
    definition = DataDefinition(
        numerical_columns=[*numerical, PROBABILITY] if has_outputs else numerical,
        categorical_columns=[*categorical, DECISION] if has_outputs else categorical,
    )
    columns = [*names, PROBABILITY, DECISION] if has_outputs else names
    report = Report([DataDriftPreset(columns=names, drift_share=threshold), *out_metrics])
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    by_column: dict[str, dict[str, Any]] = {}
    for metric in snapshot.dict()["metrics"]:
        column = metric.get("config", {}).get("column")
        if column and "ValueDrift" in metric.get("metric_name", ""):
            by_column[column] = metric
    verdicts = [
        _verdict(f.name, f.kind, by_column.get(f.name))
        if f.name not in skip
        else _verdict(f.name, f.kind, None).model_copy(update={"note": "empty in the window: not tested"})
        for f in model.schema.features
    ]
    tested = [v for v in verdicts if v.test]
    share = sum(v.drifted for v in tested) / len(tested) if tested else 0.0
    ref_approve = float((reference[DECISION] == "approve").mean())
    cur_decisions = current[DECISION].dropna()
    outputs = OutputDrift(
        probability=_verdict(PROBABILITY, "output", by_column.get(PROBABILITY)) if has_outputs else None,
        decision=_verdict(DECISION, "output", by_column.get(DECISION)) if has_outputs else None,
        approval_share_current=float((cur_decisions == "approve").mean()) if len(cur_decisions) else None,
        approval_share_reference=ref_approve,
        mean_probability_current=float(current[PROBABILITY].mean()) if has_outputs else None,
        mean_probability_reference=float(reference[PROBABILITY].mean()),
    )
    return Analysis(
        features=verdicts, drift_share=share, dataset_drift=share >= threshold, outputs=outputs, snapshot=snapshot
    )
