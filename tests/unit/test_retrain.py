"""The retrain job on moto: a challenger from a window's matured outcomes, registered through the CLI's one path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from labelled import seed_cohort
from model_versions import register_layer_champion
from typer.testing import CliRunner

from creditwatch import lookups
from creditwatch.cli import app
from creditwatch_analytics.model_lifecycle import promote
from creditwatch_common.aws import AwsClients
from creditwatch_common.log import LogReader
from creditwatch_common.registry import ModelRegistry
from creditwatch_retrain.app import RetrainRunError, RetrainService, build
from creditwatch_retrain.settings import RetrainSettings

# A week: the table is read by one Query per day and shard, and moto answers each in a few milliseconds.
START, END = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 8, tzinfo=UTC)
WINDOW = {"start": "2026-09-01T00:00:00Z", "end": "2026-09-08T00:00:00Z"}


def retrain_service(aws: Any, **update: Any) -> RetrainService:
    """The function built as its handler builds it, reading the table (the engine every window falls back to)."""
    settings = RetrainSettings().model_copy(
        update={
            "model_registry_bucket": aws.ref("ModelRegistryBucket"),
            "analytics_engine": "dynamodb",
            "lake_bucket": None,
            **update,
        }
    )
    return build(settings, AwsClients())


@pytest.fixture
def registry(aws: Any, s3: Any) -> ModelRegistry:
    return ModelRegistry(s3, aws.ref("ModelRegistryBucket"))


@pytest.fixture
def cohort(aws: Any, prediction_log: Any, ddb: Any, model: Any, registry: ModelRegistry) -> list[Any]:
    """The layer's model as champion; 300 predictions of the week with outcomes on about 80% of them."""
    register_layer_champion(registry)
    table, shards = aws.ref("PredictionsTable"), int(aws.parameters["LogShards"])
    return seed_cohort(
        prediction_log, ddb, table, shards, model, n=300, start=START, end=END, concept_drift=True, coverage=0.8
    )


def labelled_ids(ddb: Any, aws: Any) -> set[str]:
    """The predictions whose item holds an outcome, read straight from the table."""
    pages = ddb.get_paginator("scan").paginate(TableName=aws.ref("PredictionsTable"))
    return {item["prediction_id"]["S"] for page in pages for item in page["Items"] if "outcome" in item}


def test_a_run_registers_a_challenger_whose_card_lists_every_matured_outcome_and_none_of_an_erased_record(
    aws, ddb, registry, cohort
):
    before = labelled_ids(ddb, aws)
    erased = sorted(before)[0]
    reader = LogReader(dynamodb=ddb, table=aws.ref("PredictionsTable"), shards=int(aws.parameters["LogShards"]))
    assert lookups.erase(reader, erased)["erased"] is True

    result = retrain_service(aws).handle({**WINDOW, "reason": "quality degraded", "requested_by": "rita"})

    assert result["status"] == "registered", result["message"]
    card = registry.card(result["version"])
    assert registry.alias("challenger").version == card.version  # type: ignore[union-attr]
    used = set(card.prediction_ids) | set(card.holdout_prediction_ids)
    assert erased not in used and used == before - {erased}
    assert card.training.rows_by_source == {"original": 700, "matured_outcomes": len(card.prediction_ids)}
    assert card.why == "quality degraded" and card.created_by.startswith("rita via ")
    assert card.parent_version == result["champion_version"] == registry.alias("champion").version  # type: ignore[union-attr]
    assert result["labelled_rows"] == len(used) and result["rows_read"] == len(cohort) - 1
    assert result["card"]["prediction_ids"] == len(card.prediction_ids)
    assert result["card"]["validation"]["recent"]["rows"] == len(card.holdout_prediction_ids)


def test_the_job_and_model_train_challenger_give_one_version_for_one_window(aws, registry, cohort):
    cli = CliRunner().invoke(
        app,
        ["model", "train", "--challenger", "--start", "2026-09-01", "--end", "2026-09-08", "--json",
         "--bucket", aws.ref("ModelRegistryBucket"), "--table", aws.ref("PredictionsTable")],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    by_cli = json.loads(cli.stdout)

    result = retrain_service(aws).handle(WINDOW)

    assert result["status"] == "registered" and result["version"] == by_cli["version"]
    assert result["new"] is False and result["moved"] is False
    assert result["card"]["fingerprint"] == registry.card(by_cli["version"]).training.fingerprint


def test_a_challenger_equal_to_the_champion_is_refused_and_nothing_moves(aws, registry, cohort):
    service = retrain_service(aws)
    first = service.handle(WINDOW)
    promote(registry, first["version"], "tests", "trial", force=True)
    history = registry.alias_history("challenger")

    again = service.handle(WINDOW)

    assert again["status"] == "refused" and again["error"] == "equals_champion"
    assert f"the challenger equals the champion (version {first['version']})" in again["message"]
    assert again["version"] is None and registry.alias_history("challenger") == history


def test_a_window_without_matured_outcomes_is_refused_before_any_training(aws, registry, cohort):
    result = retrain_service(aws).handle({"start": "2026-09-08T00:00:00Z", "end": "2026-09-09T00:00:00Z"})
    assert result["status"] == "refused" and result["error"] == "no_matured_outcomes"
    assert "nothing new to learn from" in result["message"] and result["rows_read"] == 0
    assert registry.alias("challenger") is None


def test_an_unreachable_registry_fails_the_run_so_lambda_retries_it_and_the_errors_alarm_pages(aws, cohort):
    service = retrain_service(aws, model_registry_bucket="creditwatch-no-such-registry")
    with pytest.raises(
        RetrainRunError, match="registry_failed: the model registry bucket creditwatch-no-such-registry"
    ):
        service.handle(WINDOW)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"start": "2026-09-01T00:00:00Z"}, "give both start and end"),
        ({**WINDOW, "days": 7}, "start and end, or days"),
        ({"start": "2026-09-01T00:00:00", "end": "2026-10-01T00:00:00"}, "time zone"),
        ({"days": 0}, "greater than or equal to 1"),
        ({"reason": ""}, "at least 1 character"),
        ({"window": "last year"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_events_get_a_precise_invalid_event_answer(aws, body, needle):
    answer = retrain_service(aws).handle(body)
    assert answer["status"] == "invalid_event" and needle in json.dumps(answer["errors"])


def test_the_event_file_parses_to_the_last_365_days_ending_at_this_hours_end(event):
    from creditwatch_retrain.models import RetrainEvent

    parsed = RetrainEvent.model_validate(event("retrain.json"))
    start, end = parsed.window(30, now=datetime(2026, 11, 5, 14, 20, tzinfo=UTC))
    assert (start, end) == (datetime(2025, 11, 5, 15, tzinfo=UTC), datetime(2026, 11, 5, 15, tzinfo=UTC))
