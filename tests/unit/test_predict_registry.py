"""The predict function follows the registry: a promoted champion answers from the next request; a registry that
cannot be read (down, tampered) never changes an answer: the models already serving answer, and it is counted.
"""

from __future__ import annotations

import socket
from typing import Any

import boto3
import pytest
from botocore.config import Config
from model_versions import register_layer_champion, variant
from predict_calls import call, logged

from creditwatch_common.aws import AwsClients
from creditwatch_common.model_registry import version_prefix
from creditwatch_common.observability import Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_predict.app import build
from creditwatch_predict.models import ModelProvider
from creditwatch_predict.settings import PredictSettings

# Approves almost everyone: a version whose answers differ from the layer's for a refused applicant.
LENIENT = 0.05


@pytest.fixture
def registry(aws, s3) -> ModelRegistry:
    return ModelRegistry(s3, aws.ref("ModelRegistryBucket"))


@pytest.fixture
def service(aws, registry, prediction_log, model, tmp_path) -> Any:
    """The predict function on moto, checking the aliases on every request (as `creditwatch serve` does)."""
    register_layer_champion(registry)
    settings = PredictSettings().model_copy(
        update={
            "spill_queue_url": prediction_log.spill_queue_url,
            "model_version": None,  # followed, as on the local stack (deployed: pinned in the configuration)
            "model_alias_check_ms": 0,
            "model_cache_dir": str(tmp_path / "models"),
            "flush_metrics_per_request": True,
        }
    )
    assert settings.model_registry_bucket == aws.ref("ModelRegistryBucket")  # the template's environment
    return build(settings, AwsClients(), model=model)


def health(service: Any, event: Any) -> dict[str, Any]:
    return call(service, event("health.json"))[1]


def test_a_promoted_champion_answers_from_the_next_request_and_health_names_it(
    service, registry, event, model, prediction_log, tmp_path
):
    status, before, _ = call(service, event("predict-valid.json"))
    assert status == 200 and before["model_version"] == model.version and before["decision"] == "refuse"
    # The first champion is the layer's own model: served from the layer, not fetched.
    assert health(service, event)["model_source"] == "layer"

    folder, card = variant(tmp_path, LENIENT)
    registry.register(card, folder)
    registry.move_alias("champion", card.version, moved_by="t", reason="promoted")

    status, after, _ = call(service, event("predict-valid.json"))
    assert status == 200
    assert (after["model_version"], after["decision"]) == (card.version, "approve")
    assert after["probability_good_credit"] == before["probability_good_credit"]  # the same forest
    record = next(r for r in logged(prediction_log) if r["prediction_id"] == after["prediction_id"])
    assert record["model_version"] == card.version
    shown = health(service, event)
    assert (shown["model_version"], shown["model_source"], shown["challenger_version"]) == (
        card.version,
        "registry",
        None,
    )


def test_health_names_the_challenger_the_provider_offers(service, registry, event, tmp_path):
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    registry.move_alias("challenger", card.version, moved_by="t", reason="shadow")
    assert health(service, event)["challenger_version"] == card.version
    assert service.provider.challenger().version == card.version


def test_the_registrys_challenger_is_shadowed_from_the_next_request_and_the_answer_stays_the_champions(
    service, registry, event, prediction_log, tmp_path
):
    status, before, _ = call(service, event("predict-valid.json"))
    folder, card = variant(tmp_path, 0.6)
    registry.register(card, folder)
    registry.move_alias("challenger", card.version, moved_by="t", reason="shadow")
    status, after, _ = call(service, event("predict-valid.json"))
    assert status == 200 and (after["decision"], after["model_version"]) == (
        before["decision"],
        before["model_version"],
    )
    record = next(r for r in logged(prediction_log) if r["prediction_id"] == after["prediction_id"])
    assert record["challenger_version"] == card.version and record["challenger_decision"] in ("approve", "refuse")
    assert record["challenger_probability_good_credit"] is not None


def test_a_tampered_champion_is_not_served_and_is_counted(service, registry, event, model, tmp_path, capsys):
    folder, card = variant(tmp_path, LENIENT)
    registry.register(card, folder)
    registry.s3.put_object(Bucket=registry.bucket, Key=version_prefix(card.version) + "forest.npz", Body=b"x")
    registry.move_alias("champion", card.version, moved_by="t", reason="promoted")
    capsys.readouterr()

    status, body, _ = call(service, event("predict-valid.json"))
    assert status == 200
    assert (body["model_version"], body["decision"]) == (model.version, "refuse")
    assert "ModelRegistryFailures" in capsys.readouterr().out
    assert "forest.npz has sha256" in (service.provider.last_error or "")


def test_a_pinned_version_is_served_without_following_the_aliases(
    aws, registry, prediction_log, model, tmp_path, event
):
    register_layer_champion(registry)
    folder, card = variant(tmp_path, LENIENT)
    registry.register(card, folder)
    settings = PredictSettings().model_copy(
        update={
            "spill_queue_url": prediction_log.spill_queue_url,
            "model_version": card.version,
            "model_cache_dir": str(tmp_path / "m"),
        }
    )
    pinned = build(settings, AwsClients(), model=model)
    registry.move_alias("champion", model.version, moved_by="t", reason="ignored by a pinned function")
    status, body, _ = call(pinned, event("predict-valid.json"))
    assert (status, body["model_version"]) == (200, card.version)


def test_an_unreachable_registry_leaves_the_layers_model_answering_and_is_counted(model, tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{closed}",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    obs = Observability.build(Service.PREDICT, PredictSettings())
    clock = [0.0]
    provider = ModelProvider(
        model,
        ModelRegistry(s3, "creditwatch-registry"),
        obs=obs,
        check_interval_s=0,
        retry_after_s=30,
        clock=lambda: clock[0],
    )
    assert provider.champion() is model and provider.challenger() is None
    assert provider.status()["model_source"] == "layer"
    obs.metrics.flush_metrics()
    assert "ModelRegistryFailures" in capsys.readouterr().out
    assert "cannot be reached" in (provider.last_error or "")
    # Within the pause no request waits on the registry again; after it, the registry is asked again.
    calls = provider.last_error
    clock[0] = 29.0
    provider.champion()
    assert provider.last_error is calls
    clock[0] = 31.0
    provider.champion()
    assert provider.last_error is not calls
