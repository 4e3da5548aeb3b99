"""`creditwatch model`: list, show, train a challenger, shadow, promote on evidence, roll back, export to MLflow.

In process (typer's runner) against moto through `--bucket` (a deployed stack's registry, the caller's
credentials); the local stack's registry is the same code with the local bucket (tests/e2e/test_model_local.py).
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from labelled import seed_cohort
from model_versions import layer_card, register_layer_champion, variant
from typer.testing import CliRunner

from creditwatch.cli import app
from creditwatch_common.model_registry import ComparisonEvidence, evidence_prefix, version_prefix
from creditwatch_common.registry import ModelRegistry


@pytest.fixture
def registry(aws, s3) -> ModelRegistry:
    return ModelRegistry(s3, aws.ref("ModelRegistryBucket"))


@pytest.fixture
def cli(aws) -> Any:
    """`creditwatch <args> --bucket <the moto registry>`: the result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: str, bucket: bool = True) -> Any:
        extra = ["--bucket", aws.ref("ModelRegistryBucket")] if bucket else []
        return runner.invoke(app, [*args, *extra])

    return run


def one_error_line(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def evidence(registry: ModelRegistry, challenger: str, at: datetime, verdict: str = "promote") -> ComparisonEvidence:
    """A comparison as the compare job writes it."""
    e = ComparisonEvidence(
        report_id=f"compare-{at:%Y%m%dT%H%M%S%f}", generated_at=at, champion_version=layer_card().version,
        challenger_version=challenger, window_start=at - timedelta(days=7), window_end=at, shadow_rows=500,
        score_psi=0.05, approval_rate_champion=0.25, approval_rate_challenger=0.3, approval_rate_change=0.05,
        swap_rate=0.1, labelled_rows=300, auc_difference=0.04, verdict=verdict, reasons=["AUC better beyond noise"],
    )  # fmt: skip
    key = f"{evidence_prefix(challenger)}{at:%Y%m%dT%H%M%S%fZ}-{e.report_id}.json"
    registry.s3.put_object(Bucket=registry.bucket, Key=key, Body=e.model_dump_json())
    return e


def test_list_json_gives_each_version_and_the_aliases_naming_it(cli, registry, tmp_path):
    champion = register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    registry.move_alias("challenger", card.version, moved_by="t", reason="shadow")
    result = cli("model", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["version"]: r["aliases"] for r in json.loads(result.stdout)}
    assert rows == {champion: ["champion"], card.version: ["challenger"]}


def test_show_gives_the_card_with_both_holdouts_and_fairness(cli, registry):
    champion = register_layer_champion(registry)
    result = cli("model", "show", champion, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["aliases"] == ["champion"]
    assert (
        shown["validation"]["original"]["figures"]["auc"]["low"]
        < shown["validation"]["original"]["figures"]["auc"]["value"]
    )
    assert shown["validation"]["recent"]["rows"] == 0
    assert {f["attribute"] for f in shown["fairness"]} == {"sex", "age", "foreign_worker"}
    assert set(shown["artifacts"]) >= {"forest.npz", "metadata.json", "explain.npz"}


def test_an_unknown_version_is_one_error_line_exit_1(cli, registry):
    register_layer_champion(registry)
    result = cli("model", "show", "0123456789ab")
    assert result.exit_code == 1
    assert "no model version 0123456789ab" in one_error_line(result)


def test_train_needs_the_challenger_flag(cli):
    result = cli("model", "train")
    assert result.exit_code == 2
    assert "--challenger" in one_error_line(result)


def test_a_challenger_from_matured_outcomes_has_one_version_per_inputs_and_is_refused_when_equal_to_the_champion(
    cli, registry, aws, prediction_log, ddb, model
):
    register_layer_champion(registry)
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    table, shards = aws.ref("PredictionsTable"), int(aws.parameters["LogShards"])
    seed_cohort(
        prediction_log, ddb, table, shards, model, n=300, start=start, end=end, concept_drift=True, coverage=0.8
    )
    args = (
        "model",
        "train",
        "--challenger",
        "--start",
        "2026-09-01",
        "--end",
        "2026-10-01",
        "--table",
        table,
        "--json",
    )

    first = cli(*args)
    assert first.exit_code == 0, first.output
    trained = json.loads(first.stdout)
    assert trained["aliases"] == ["challenger"] and trained["new"] is True
    card = registry.card(trained["version"])
    # 80% of 300 labelled; the latest fifth held out, the rest trained on beside the original 700.
    assert card.validation["recent"].rows + card.training.rows_by_source["matured_outcomes"] == len(
        card.prediction_ids
    ) + len(card.holdout_prediction_ids)
    assert card.training.rows_by_source["original"] == 700
    assert card.validation["recent"].figures["auc"]["value"] is not None

    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["version"] == trained["version"]
    assert json.loads(again.stdout)["new"] is False
    assert registry.card(trained["version"]).training.fingerprint == card.training.fingerprint

    assert cli("model", "promote", trained["version"], "--reason", "trial", "--force").exit_code == 0
    equal = cli(*args)
    assert equal.exit_code == 1
    assert f"the challenger equals the champion (version {trained['version']})" in one_error_line(equal)


def test_promote_is_refused_without_a_comparison_newer_than_the_shadow_start(cli, registry, tmp_path):
    champion = register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    assert cli("model", "promote", card.version, "--reason", "r").exit_code == 1  # never shadowed

    shadowed = cli("model", "shadow", card.version)
    assert shadowed.exit_code == 0, shadowed.output
    start = registry.alias("challenger").moved_at
    evidence(registry, card.version, start - timedelta(seconds=1))  # older than the shadow start
    refused = cli("model", "promote", card.version, "--reason", "looks better")
    assert refused.exit_code == 1
    assert f"no comparison of version {card.version} newer than its shadow start" in one_error_line(refused)
    assert registry.alias("champion").version == champion

    newer = evidence(registry, card.version, start + timedelta(seconds=1))
    promoted = cli("model", "promote", card.version, "--reason", "better on outcomes")
    assert promoted.exit_code == 0, promoted.output
    move = registry.alias("champion")
    assert (move.version, move.previous_version, move.evidence_report_id, move.forced) == (
        card.version, champion, newer.report_id, False
    )  # fmt: skip
    assert registry.alias("challenger").version is None  # it is the champion now


def test_a_rejecting_comparison_refuses_and_force_is_recorded(cli, registry, tmp_path):
    register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    cli("model", "shadow", card.version)
    evidence(registry, card.version, registry.alias("challenger").moved_at + timedelta(seconds=1), verdict="reject")
    assert "rejects version" in one_error_line(cli("model", "promote", card.version, "--reason", "r"))
    forced = cli("model", "promote", card.version, "--reason", "regulator asked", "--force")
    assert forced.exit_code == 0, forced.output
    assert registry.alias("champion").forced is True
    assert registry.alias("champion").reason == "regulator asked"


def test_rollback_restores_the_previous_champion_and_history_keeps_both_moves(cli, registry, tmp_path):
    champion = register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    cli("model", "promote", card.version, "--reason", "try", "--force")
    result = cli("model", "rollback", "--reason", "approvals jumped")
    assert result.exit_code == 0, result.output
    assert registry.alias("champion").version == champion
    history = json.loads(cli("model", "history", "champion", "--json").stdout)
    assert [(m["version"], m["reason"]) for m in history][-2:] == [
        (card.version, "try"),
        (champion, "approvals jumped"),
    ]


def test_rollback_without_a_previous_champion_is_refused(cli, registry):
    register_layer_champion(registry)
    result = cli("model", "rollback", "--reason", "r")
    assert result.exit_code == 1
    assert "no previous champion" in one_error_line(result)


def test_a_tampered_artifact_is_one_error_line_and_nothing_is_exported(cli, registry, tmp_path):
    champion = register_layer_champion(registry)
    registry.s3.put_object(Bucket=registry.bucket, Key=version_prefix(champion) + "forest.npz", Body=b"not a forest")
    result = cli("model", "export-mlflow", champion, "--tracking-uri", f"file:{tmp_path / 'mlruns'}")
    assert result.exit_code == 1
    assert f"version {champion}: artifact forest.npz has sha256" in one_error_line(result)
    assert not (tmp_path / "mlruns").exists()


def test_export_mlflow_logs_the_cards_params_metrics_and_the_artifacts_to_a_file_store(cli, registry, tmp_path):
    import mlflow

    champion = register_layer_champion(registry)
    uri = f"file:{tmp_path / 'mlruns'}"
    result = cli("model", "export-mlflow", champion, "--tracking-uri", uri, "--experiment", "credit")
    assert result.exit_code == 0, result.output
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("credit").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    card = layer_card()
    assert run.data.tags["creditwatch.version"] == champion
    assert run.data.params["threshold"] == str(card.parameters["threshold"])
    assert run.data.metrics["validation.original.auc"] == card.validation["original"].figures["auc"]["value"]
    assert run.data.metrics["validation.original.auc.low"] == card.validation["original"].figures["auc"]["low"]
    model_files = {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "model")}
    assert model_files == set(registry.card(champion).artifacts)
    assert "card.json" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_an_unreachable_registry_is_one_error_line_exit_6(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once the socket is closed
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    result = CliRunner().invoke(app, ["model", "list", "--bucket", "creditwatch-registry"])
    assert result.exit_code == 6
    assert "the model registry s3://creditwatch-registry cannot be reached" in one_error_line(result)


def test_bootstrap_makes_the_layers_model_the_first_champion_once(cli, registry, model):
    first = cli("model", "bootstrap")
    assert first.exit_code == 0, first.output
    assert registry.alias("champion").version == model.version
    assert cli("model", "bootstrap").exit_code == 0
    assert len(registry.alias_history("champion")) == 1
