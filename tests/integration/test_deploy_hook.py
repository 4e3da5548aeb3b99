"""The deployment hooks against the real predict handler behind a Lambda/CodeDeploy stub (tests/faults.py DeployStub).

Each test runs the hook as Lambda would (its handler with a context), on moto for the registry bucket, the
notifications queue and the prediction log; CodeDeploy's GetDeployment is moto's own, through the stub.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from faults import DeployStub, threaded_moto
from lambda_context import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.model_registry import ComparisonEvidence
from creditwatch_common.notifications import DeploymentGateFailed, parse_notification
from creditwatch_common.records import FullRow
from creditwatch_deploy_hook.app import build
from creditwatch_deploy_hook.settings import HookSettings
from creditwatch_model import ARTIFACTS_DIR, CreditModel

FUNCTION = "creditwatch-local-PredictFunction"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with threaded_moto() as url:
        yield url


@pytest.fixture
def stub(moto_url: str, aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeployStub]:
    """CodeDeploy and Lambda through the stub; every other service on the in-process moto of `aws`."""
    with DeployStub(moto_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEDEPLOY", proxy.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", proxy.url)
        yield proxy


def _deployment(stub: DeployStub, current: str = "6", target: str = "7") -> str:
    """A deployment whose AppSpec shifts `live` from `current` to `target`, as CloudFormation creates it."""
    cd = boto3.client("codedeploy", region_name="us-east-1", endpoint_url=stub.url)
    if "creditwatch" not in cd.list_applications()["applications"]:
        cd.create_application(applicationName="creditwatch", computePlatform="Lambda")
        cd.create_deployment_group(
            applicationName="creditwatch",
            deploymentGroupName="predict",
            serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        )
    spec = {
        "version": 0.0,
        "Resources": [
            {
                "PredictFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": FUNCTION,
                        "Alias": "live",
                        "CurrentVersion": current,
                        "TargetVersion": target,
                    },
                }
            }
        ],
    }
    revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(spec)}}
    return str(
        cd.create_deployment(applicationName="creditwatch", deploymentGroupName="predict", revision=revision)[
            "deploymentId"
        ]
    )


def _hooks(aws: Any, **overrides: Any) -> Any:
    settings = HookSettings().model_copy(
        update={
            "predict_function_name": FUNCTION,
            "model_dir": str(ARTIFACTS_DIR),
            "model_registry_bucket": aws.ref("ModelRegistryBucket"),
            "notifications_queue_url": aws.ref("NotificationsQueue"),
            **overrides,
        }
    )
    return build(settings, AwsClients())


def _pre(aws: Any, stub: DeployStub, deployment: str, remaining_s: float = 300, **overrides: Any) -> dict[str, Any]:
    event = {"DeploymentId": deployment, "LifecycleEventHookExecutionId": f"exec-{deployment}"}
    result: dict[str, Any] = _hooks(aws, **overrides).pre_traffic(event, LambdaContext(remaining_s=remaining_s))
    assert stub.statuses[-1] == (deployment, f"exec-{deployment}", result["status"])
    return result


def _notes(aws: Any) -> list[Any]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=aws.ref("NotificationsQueue"), MaxNumberOfMessages=10)
    return [parse_notification(m["Body"]) for m in got.get("Messages", [])]


def _other_model(model: CreditModel, version: str, threshold_shift: float) -> CreditModel:
    """The same forest under another version and threshold: another model's decisions, honestly scored."""
    meta = json.loads(json.dumps(model.metadata))
    meta["version"] = version
    meta["decision"]["threshold"] = meta["decision"]["threshold"] + threshold_shift
    return CreditModel(meta, model.forest, cover=ARTIFACTS_DIR / "explain.npz")


def test_a_code_change_that_keeps_every_answer_passes_and_its_replay_never_reaches_a_window(
    aws: Any, stub: DeployStub, handler: Any, model: CreditModel, prediction_log: Any
) -> None:
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", model.version, handler.handler)
    result = _pre(aws, stub, _deployment(stub))
    assert result["status"] == "Succeeded", result["reason"]
    assert result["reason"] == f"model {model.version} unchanged: 300 answers identical"
    # Three batches of 100 through the new version; the live one is not needed for an unchanged model.
    assert [q for _f, q in stub.invocations].count("7") == 4 and "6" in [q for _f, q in stub.invocations]
    now = datetime.now(UTC)
    window = (now - timedelta(minutes=2), now + timedelta(minutes=2))
    kept = list(prediction_log.query_window(*window, FullRow, include_synthetic=True))
    assert len(kept) == 303 and {r.synthetic for r in kept} == {"deploy-gate"}
    assert list(prediction_log.query_window(*window, FullRow)) == []
    assert _notes(aws) == []


def test_a_code_change_that_changes_a_decision_fails_with_the_count_and_a_slack_note(
    aws: Any, stub: DeployStub, handler: Any, model: CreditModel
) -> None:
    from creditwatch_predict.app import build as build_predict
    from creditwatch_predict.settings import PredictSettings

    # The same model version, deciding at another threshold: what a code bug in the decision would do.
    drifted = build_predict(PredictSettings(), AwsClients(), model=_other_model(model, model.version, 0.05))
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", model.version, drifted.handler)
    deployment = _deployment(stub)
    result = _pre(aws, stub, deployment)
    assert result["status"] == "Failed"
    assert result["reason"].startswith(f"model {model.version} unchanged but ")
    assert "answers differ from the frozen replay set" in result["reason"]
    (note,) = _notes(aws)
    assert isinstance(note, DeploymentGateFailed) and note.deployment_id == deployment
    assert note.reason == result["reason"] and note.target_version == "7"


def _evidence(aws: Any, champion: str, challenger: str, *, psi: float, change: float, swap: float) -> None:
    now = datetime.now(UTC)
    evidence = ComparisonEvidence(
        report_id="cmp-1",
        generated_at=now,
        champion_version=champion,
        challenger_version=challenger,
        window_start=now - timedelta(days=7),
        window_end=now,
        shadow_rows=5000,
        score_psi=psi,
        approval_rate_champion=0.3,
        approval_rate_challenger=0.3 + change,
        approval_rate_change=change,
        swap_rate=swap,
        labelled_rows=800,
        auc_difference=0.03,
        verdict="promote",
        reasons=["better beyond noise"],
    )
    key = f"evidence/{challenger}/{now:%Y%m%dT%H%M%SZ}-cmp-1.json"
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws.ref("ModelRegistryBucket"), Key=key, Body=evidence.model_dump_json().encode()
    )


@pytest.fixture
def new_model_release(aws: Any, stub: DeployStub, handler: Any, model: CreditModel, tmp_path: Path) -> str:
    """Version 7 serves model `c0ffee000001` (its layer's replay set says so); version 6 the shipped model."""
    from creditwatch_predict.app import build as build_predict
    from creditwatch_predict.settings import PredictSettings

    challenger = _other_model(model, "c0ffee000001", -0.03)
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", challenger.version, build_predict(PredictSettings(), AwsClients(), model=challenger).handler)
    layer = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, layer, ignore=shutil.ignore_patterns("*.csv", "*.joblib", "*.npz"))
    replay = json.loads((layer / "replay.json").read_text())
    replay["model_version"] = challenger.version
    (layer / "replay.json").write_text(json.dumps(replay))
    return str(layer)


def test_a_new_model_without_comparison_evidence_fails_in_one_line(
    aws: Any, stub: DeployStub, new_model_release: str, model: CreditModel
) -> None:
    result = _pre(aws, stub, _deployment(stub), model_dir=new_model_release)
    assert result["status"] == "Failed"
    assert result["reason"] == (
        f"model changed ({model.version} -> c0ffee000001) and no comparison evidence exists for c0ffee000001: "
        "run the comparison and promote it first (docs/deploy.md)"
    )


def test_a_new_model_passes_within_its_approved_limits_and_fails_beyond_them(
    aws: Any, stub: DeployStub, new_model_release: str, model: CreditModel
) -> None:
    _evidence(aws, model.version, "c0ffee000001", psi=0.3, change=0.1, swap=0.1)
    passed = _pre(aws, stub, _deployment(stub), model_dir=new_model_release)
    assert passed["status"] == "Succeeded", passed["reason"]
    checks = {r["check"]: r for r in passed["rows"]}
    assert set(checks) == {"answer contract", "score PSI", "approval-rate change", "swap rate"}
    swap = float(checks["swap rate"]["value"])
    assert 0 < swap <= 0.15 and checks["swap rate"]["limit"] == "<= 0.150"
    # The same release, held to a comparison that saw no change at all, with no tolerance.
    _evidence(aws, model.version, "c0ffee000001", psi=0.0, change=0.0, swap=0.0)
    failed = _pre(aws, stub, _deployment(stub), model_dir=new_model_release, tolerance_swap_rate=0.0)
    assert failed["status"] == "Failed"
    assert f"swap rate {swap:.3f} > 0.000" in failed["reason"]


def test_a_new_version_that_does_not_answer_fails_the_deployment_within_the_hooks_time(
    aws: Any, stub: DeployStub, handler: Any, model: CreditModel
) -> None:
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", model.version, handler.handler)
    stub.inject("Invoke", "hang", hang_seconds=30)
    started = datetime.now(UTC)
    result = _pre(aws, stub, _deployment(stub), invoke_timeout_s=1.0)
    assert (datetime.now(UTC) - started).total_seconds() < 10
    assert result["status"] == "Failed"
    assert result["reason"] == "version 7 did not answer within the hook's read timeout"


def test_a_hook_short_of_time_fails_rather_than_being_killed_silently(
    aws: Any, stub: DeployStub, handler: Any, model: CreditModel
) -> None:
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", model.version, handler.handler)
    # 20 s left, 10 kept to report: not enough for one batch that may take 35 s.
    result = _pre(aws, stub, _deployment(stub), remaining_s=20)
    assert result["status"] == "Failed"
    assert result["reason"] == "out of time: version 7 had answered 0 of 300 replayed applications"


def test_a_replay_set_that_does_not_match_the_models_schema_fails_before_any_invoke(
    aws: Any, stub: DeployStub, handler: Any, model: CreditModel, tmp_path: Path
) -> None:
    stub.add_version("6", model.version, handler.handler)
    stub.add_version("7", model.version, handler.handler)
    layer = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, layer, ignore=shutil.ignore_patterns("*.csv", "*.joblib", "*.npz"))
    replay = json.loads((layer / "replay.json").read_text())
    replay["applications"][4]["purpose"] = "A499"
    (layer / "replay.json").write_text(json.dumps(replay))
    result = _pre(aws, stub, _deployment(stub), model_dir=str(layer))
    assert result["status"] == "Failed"
    assert result["reason"] == (
        "the replay set does not match the model's schema: "
        "application 4: purpose='A499' is not one of the model's codes"
    )
    assert [q for _f, q in stub.invocations if _f] == ["7", "6"]  # configurations read, nothing invoked


def test_post_traffic_fails_while_a_rollback_alarm_is_in_alarm_and_passes_once_none_is(
    aws: Any, stub: DeployStub
) -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    names = ["canary-errors", "canary-psi"]
    for name in names:
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="CreditWatch",
            MetricName="X",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    cw.set_alarm_state(AlarmName="canary-psi", StateValue="ALARM", StateReason="PSI 0.41 > 0.25")
    hooks = _hooks(aws, alarm_names=",".join(names))
    deployment = _deployment(stub)
    event = {"DeploymentId": deployment, "LifecycleEventHookExecutionId": "post-1"}
    failed = hooks.post_traffic(event, LambdaContext())
    assert failed["status"] == "Failed"
    assert failed["reason"] == "1 rollback alarm(s) in ALARM: canary-psi (PSI 0.41 > 0.25)"
    cw.set_alarm_state(AlarmName="canary-psi", StateValue="OK", StateReason="back")
    passed = hooks.post_traffic({**event, "LifecycleEventHookExecutionId": "post-2"}, LambdaContext())
    assert passed["status"] == "Succeeded"
    assert [s[2] for s in stub.statuses] == ["Failed", "Succeeded"]
