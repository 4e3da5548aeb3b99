"""A registry version logged to MLflow: one run with the card's parameters, figures, provenance and artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditwatch_common.model_card import ModelCard


@dataclass(frozen=True)
class ExportedRun:
    """Where the version went."""

    experiment_id: str
    run_id: str
    artifact_uri: str


def params(card: ModelCard) -> dict[str, str]:
    """The card's parameters and training data as MLflow params (flat, strings)."""
    out = {f"hyperparameters.{k}": str(v) for k, v in (card.parameters.get("hyperparameters") or {}).items()}
    out["threshold"] = str(card.parameters.get("threshold"))
    out["training.fingerprint"] = card.training.fingerprint
    out.update({f"training.rows.{k}": str(v) for k, v in card.training.rows_by_source.items()})
    out.update({f"training.weight.{k}": str(v) for k, v in card.training.weights_by_decision.items()})
    if card.training.window_start and card.training.window_end:
        out["training.window"] = f"{card.training.window_start.isoformat()} .. {card.training.window_end.isoformat()}"
    return out


def metrics(card: ModelCard) -> dict[str, float]:
    """Each holdout's figures and their interval bounds (`validation.<holdout>.<figure>[.low|.high]`)."""
    out: dict[str, float] = {}
    for name, holdout in card.validation.items():
        out[f"validation.{name}.rows"] = float(holdout.rows)
        for figure, values in holdout.figures.items():
            for part, suffix in (("value", ""), ("low", ".low"), ("high", ".high")):
                if values.get(part) is not None:
                    out[f"validation.{name}.{figure}{suffix}"] = float(values[part])  # type: ignore[arg-type]
    for f in card.fairness:
        if f.disparate_impact is not None:
            out[f"fairness.{f.holdout}.disparate_impact.{f.attribute}"] = f.disparate_impact
    return out


def export(card: ModelCard, artifacts: Path, tracking_uri: str, experiment: str) -> ExportedRun:
    """Log the version as one run of `experiment` (tagged with its version and provenance); the card as card.json."""
    if tracking_uri.startswith("file:"):
        # MLflow 3 refuses its file store unless asked for it by name; a file: URI is that request.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    exp: Any = mlflow.set_experiment(experiment)
    tags = {
        "creditwatch.version": card.version,
        "creditwatch.name": card.name,
        "creditwatch.created_by": card.created_by,
        "creditwatch.created_at": card.created_at.isoformat(),
        "creditwatch.why": card.why[:5000],
        "creditwatch.parent_version": card.parent_version or "",
    }
    with mlflow.start_run(run_name=f"{card.name} {card.version}", tags=tags) as run:
        mlflow.log_params(params(card))
        mlflow.log_metrics(metrics(card))
        mlflow.log_dict(card.model_dump(mode="json"), "card.json")
        mlflow.log_artifacts(str(artifacts), artifact_path="model")
    return ExportedRun(exp.experiment_id, run.info.run_id, run.info.artifact_uri)
