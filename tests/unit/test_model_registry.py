"""The model registry on S3 (moto): immutable versions, hashes checked on fetch, aliases and their history, evidence."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faults import ResettingServer

from creditwatch_common.model_card import Holdout, ModelCard, TrainingData
from creditwatch_common.model_registry import ComparisonEvidence, evidence_prefix, version_prefix
from creditwatch_common.registry import (
    ArtifactMismatch,
    ModelRegistry,
    RegistryCorrupt,
    RegistryUnreachable,
    VersionExists,
    VersionNotFound,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def card(version: str) -> ModelCard:
    """A small card: what a registry test needs of one."""
    return ModelCard(
        version=version,
        name="test-model",
        created_by="tester",
        created_at=T0,
        why="a test",
        training=TrainingData(fingerprint="f" * 64, rows_by_source={"original": 700}),
        parameters={"threshold": 0.5},
        validation={"original": Holdout(rows=300, population="holdout")},
    )


def artifacts(tmp_path: Path, tag: str) -> Path:
    folder = tmp_path / tag
    folder.mkdir()
    (folder / "metadata.json").write_text(f'{{"tag": "{tag}"}}')
    (folder / "forest.npz").write_bytes(tag.encode() * 100)
    return folder


@pytest.fixture
def registry(aws, s3) -> ModelRegistry:
    return ModelRegistry(s3, aws.ref("ModelRegistryBucket"))


def test_a_registered_version_lists_its_artifacts_sha256_on_its_card(registry, tmp_path):
    folder = artifacts(tmp_path, "a")
    written = registry.register(card("aaaaaaaaaaaa"), folder)
    expected = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert written.artifacts == expected
    assert registry.card("aaaaaaaaaaaa").artifacts == expected
    assert registry.versions() == ["aaaaaaaaaaaa"]


def test_a_version_is_never_written_twice(registry, tmp_path, s3, aws):
    registry.register(card("aaaaaaaaaaaa"), artifacts(tmp_path, "a"))
    with pytest.raises(VersionExists, match="aaaaaaaaaaaa is already registered"):
        registry.register(card("aaaaaaaaaaaa"), artifacts(tmp_path, "b"))
    body = s3.get_object(Bucket=aws.ref("ModelRegistryBucket"), Key=version_prefix("aaaaaaaaaaaa") + "forest.npz")
    assert body["Body"].read() == b"a" * 100


def test_fetch_writes_the_artifacts_that_match_their_card(registry, tmp_path):
    folder = artifacts(tmp_path, "a")
    registry.register(card("aaaaaaaaaaaa"), folder)
    out = registry.fetch("aaaaaaaaaaaa", tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["forest.npz", "metadata.json"]
    assert (out / "forest.npz").read_bytes() == (folder / "forest.npz").read_bytes()


def test_an_artifact_changed_after_registration_is_refused_naming_it(registry, tmp_path, s3, aws):
    registry.register(card("aaaaaaaaaaaa"), artifacts(tmp_path, "a"))
    key = version_prefix("aaaaaaaaaaaa") + "forest.npz"
    s3.put_object(Bucket=aws.ref("ModelRegistryBucket"), Key=key, Body=b"tampered")
    with pytest.raises(ArtifactMismatch, match=r"version aaaaaaaaaaaa: artifact forest.npz has sha256 .* card says"):
        registry.fetch("aaaaaaaaaaaa", tmp_path / "out")
    assert not (tmp_path / "out" / "forest.npz").exists()


def test_an_unknown_version_is_version_not_found(registry, tmp_path):
    with pytest.raises(VersionNotFound, match="no model version 0123456789ab"):
        registry.card("0123456789ab")
    with pytest.raises(VersionNotFound):
        registry.move_alias("champion", "0123456789ab", moved_by="t", reason="r")
    assert registry.alias("champion") is None


def test_alias_moves_are_kept_in_order_with_who_why_and_the_previous_version(registry, tmp_path):
    registry.register(card("aaaaaaaaaaaa"), artifacts(tmp_path, "a"))
    registry.register(card("bbbbbbbbbbbb"), artifacts(tmp_path, "b"))
    registry.move_alias("champion", "aaaaaaaaaaaa", moved_by="ann", reason="first", now=T0)
    registry.move_alias(
        "champion", "bbbbbbbbbbbb", moved_by="bob", reason="better", evidence_report_id="r1", now=T0 + timedelta(days=1)
    )
    current = registry.alias("champion")
    assert (current.version, current.previous_version, current.moved_by, current.evidence_report_id) == (
        "bbbbbbbbbbbb",
        "aaaaaaaaaaaa",
        "bob",
        "r1",
    )
    history = registry.alias_history("champion")
    assert [(m.version, m.reason) for m in history] == [("aaaaaaaaaaaa", "first"), ("bbbbbbbbbbbb", "better")]
    assert set(registry.alias_etags()) == {"champion"}


def test_the_latest_evidence_is_the_newest_comparison_of_that_challenger(registry, s3, aws):
    def evidence(report_id: str, at: datetime, challenger: str = "bbbbbbbbbbbb") -> ComparisonEvidence:
        return ComparisonEvidence(
            report_id=report_id, generated_at=at, champion_version="aaaaaaaaaaaa", challenger_version=challenger,
            window_start=at - timedelta(days=1), window_end=at, shadow_rows=10, score_psi=0.1,
            approval_rate_champion=0.3, approval_rate_challenger=0.35, approval_rate_change=0.05, swap_rate=0.1,
            labelled_rows=0, auc_difference=None, verdict="hold", reasons=["few outcomes"],
        )  # fmt: skip

    assert registry.latest_evidence("bbbbbbbbbbbb") is None
    for e in (evidence("old", T0), evidence("new", T0 + timedelta(hours=1)), evidence("other", T0, "cccccccccccc")):
        key = f"{evidence_prefix(e.challenger_version)}{e.generated_at:%Y%m%dT%H%M%SZ}-{e.report_id}.json"
        s3.put_object(Bucket=aws.ref("ModelRegistryBucket"), Key=key, Body=e.model_dump_json())
    assert registry.latest_evidence("bbbbbbbbbbbb").report_id == "new"
    # Filed under b's prefix but comparing c: the gate must not judge b on it.
    misfiled = evidence("misfiled", T0 + timedelta(hours=2), "cccccccccccc")
    key = f"{evidence_prefix('bbbbbbbbbbbb')}{misfiled.generated_at:%Y%m%dT%H%M%SZ}-misfiled.json"
    s3.put_object(Bucket=aws.ref("ModelRegistryBucket"), Key=key, Body=misfiled.model_dump_json())
    with pytest.raises(RegistryCorrupt, match="compares cccccccccccc, not bbbbbbbbbbbb"):
        registry.latest_evidence("bbbbbbbbbbbb")


def test_a_registry_whose_endpoint_resets_is_unreachable_naming_the_bucket():
    import boto3
    from botocore.config import Config

    with ResettingServer() as server:
        s3 = boto3.client(
            "s3", endpoint_url=server.url, region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
        )
        registry = ModelRegistry(s3, "the-registry")
        with pytest.raises(RegistryUnreachable, match="the model registry s3://the-registry cannot be reached"):
            registry.alias("champion")
