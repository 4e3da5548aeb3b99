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


def test_local_endpoint_from_the_settings_points_boto3_at_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from creditwatch_common.settings import LogSettings

    monkeypatch.setenv("LOCAL_AWS_ENDPOINT", "http://host.docker.internal:4566")
    assert aws.apply_local_endpoint(LogSettings().local_aws_endpoint) == "http://host.docker.internal:4566"
    assert aws.AwsClients().dynamodb.meta.endpoint_url == "http://host.docker.internal:4566"


def test_a_per_service_endpoint_still_wins_over_the_local_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    aws.apply_local_endpoint("http://host.docker.internal:4566")
    assert aws.AwsClients().dynamodb.meta.endpoint_url == "http://127.0.0.1:9"
    assert aws.AwsClients().sqs.meta.endpoint_url == "http://host.docker.internal:4566"


def test_empty_local_endpoint_changes_nothing() -> None:
    assert aws.apply_local_endpoint("") is None
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ
    assert aws.AwsClients().sqs.meta.endpoint_url.startswith("https://sqs.")


@pytest.mark.server  # a new interpreter imports every module
def test_importing_any_function_module_changes_no_environment_and_reads_no_settings() -> None:
    import json
    import subprocess
    import sys

    # A fresh interpreter: what import does, before anything is built. The handlers build at import (init),
    # so they are left out; every other module of the layers and functions is imported.
    probe = """
import importlib, json, os, pkgutil, sys
import sklearn  # sets KMP_* variables of its own at import: ours must set none
before = dict(os.environ)
import pydantic_settings
reads = []
real_init = pydantic_settings.BaseSettings.__init__
def spy(self, *a, **k):
    reads.append(type(self).__name__)
    real_init(self, *a, **k)
pydantic_settings.BaseSettings.__init__ = spy
names = []
for pkg in ("creditwatch_common", "creditwatch_model", "creditwatch_predict", "creditwatch_alerts",
            "creditwatch_drift", "creditwatch_quality", "creditwatch_lake_export", "creditwatch_analytics",
            "creditwatch_compare", "creditwatch_retrain"):
    mod = importlib.import_module(pkg)
    for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
        if not info.name.endswith(".handler"):
            importlib.import_module(info.name)
            names.append(info.name)
print(json.dumps({"changed": sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k)),
                  "settings_read": reads, "modules": len(names)}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["changed"] == [] and result["settings_read"] == []
    assert result["modules"] > 30
