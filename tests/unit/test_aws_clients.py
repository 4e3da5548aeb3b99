"""The one place AWS clients come from: lazy, retrying, and pointable at a local endpoint."""

from __future__ import annotations

import pytest

from creditwatch_common import aws


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first so that monkeypatch restores the variable that apply_local_endpoint writes
    # behind its back (a bare delenv of an absent variable records nothing to undo).
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")
    monkeypatch.delenv("AWS_ENDPOINT_URL")


def test_local_endpoint_points_boto3_at_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT", "http://host.docker.internal:4566")
    assert aws.apply_local_endpoint() == "http://host.docker.internal:4566"
    assert aws.AwsClients().dynamodb.meta.endpoint_url == "http://host.docker.internal:4566"


def test_empty_local_endpoint_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_AWS_ENDPOINT", "")
    assert aws.apply_local_endpoint() is None
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ
    assert aws.AwsClients().sqs.meta.endpoint_url.startswith("https://sqs.")


def test_lazy_client_is_built_on_first_use() -> None:
    clients = aws.AwsClients()
    lazy = clients.lazy("s3")
    assert "s3" not in clients.__dict__
    assert lazy.meta.service_model.service_name == "s3"
    assert "s3" in clients.__dict__
