"""Turns logged predictions into a DataFrame and compares it with the reference using Evidently."""

from __future__ import annotations

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
# The status of a failed Evidently test: a drifted column, or a drift share at or over the threshold.
FAILED = "FAIL"


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


@dataclass
class ColumnResult:
    """One ValueDrift metric of the snapshot (id, config with method and threshold, value), and its test's status."""

    metric: dict[str, Any]
    status: str | None


def _verdict(name: str, kind: str, result: ColumnResult | None) -> FeatureDrift:
    """A column's verdict as Evidently gave it: its ValueDrift's method, threshold, score and drift test."""
    if result is None:
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
    # The method and threshold Evidently resolved for the column (its defaults, by column type and size).
    config = result.metric.get("config", {})
    method = str(config.get("method") or "")
    threshold = config.get("threshold")
    value = result.metric.get("value")
    return FeatureDrift(
        name=name,
        kind=kind,
        test=method,
        statistic="p_value" if "p_value" in method else "distance",
        value=float(value) if isinstance(value, int | float) else None,
        threshold=float(threshold) if threshold is not None else None,
        # Evidently's own drift test of the column: it fails when the column drifted.
        drifted=result.status == FAILED,
    )


@dataclass
class Results:
    """What the snapshot says: each column's ValueDrift, and DriftedColumnsCount's count, share and test."""

    columns: dict[str, ColumnResult]
    drifted_count: int
    drift_share: float
    dataset_drift: bool


def _status(status: Any) -> str:
    # TestStatus is a str Enum whose str() is its name with the class: its value is the status.
    return str(getattr(status, "value", status))


def evidently_results(snapshot: Any) -> Results:
    """The drift results of a snapshot run with tests, read from Evidently's own metrics and test statuses."""
    exported = snapshot.dict()
    # Each metric's test (ValueDrift: `drift`, failed when the column drifted; DriftedColumnsCount: share
    # less than drift_share, failed when the dataset drifted), by the metric's id.
    status = {t["metric_config"]["metric_id"]: _status(t["status"]) for t in exported["tests"]}
    columns: dict[str, ColumnResult] = {}
    count, share, dataset_drift = 0, 0.0, False
    for metric in exported["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith(":ValueDrift") and config.get("column"):
            columns[config["column"]] = ColumnResult(metric, status.get(metric.get("id", "")))
        elif kind.endswith(":DriftedColumnsCount"):
            value = metric.get("value") or {}
            count, share = round(float(value.get("count", 0))), float(value.get("share", 0.0))
            dataset_drift = status.get(metric.get("id", "")) == FAILED
    return Results(columns, count, share, dataset_drift)


@dataclass
class Analysis:
    """What Evidently found, and the snapshot that renders the HTML report."""

    features: list[FeatureDrift]
    # DriftedColumnsCount's count and share of drifted features, and its test (share >= threshold).
    drifted_count: int
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
    # With tests: each column's drift verdict and the dataset's are Evidently's own test results.
    report = Report([DataDriftPreset(columns=names, drift_share=threshold), *out_metrics], include_tests=True)
    snapshot = report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    results = evidently_results(snapshot)
    by_column = results.columns
    verdicts = [
        _verdict(f.name, f.kind, by_column.get(f.name))
        if f.name not in skip
        else _verdict(f.name, f.kind, None).model_copy(update={"note": "empty in the window: not tested"})
        for f in model.schema.features
    ]
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
        features=verdicts,
        drifted_count=results.drifted_count,
        drift_share=results.drift_share,
        dataset_drift=results.dataset_drift,
        outputs=outputs,
        snapshot=snapshot,
    )
