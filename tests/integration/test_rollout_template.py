"""template.yaml after the SAM transform: versions under `live`, the canary, its alarms, the hooks and the probe."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from template_functions import DEPLOY_HOOKS

from creditwatch.local.template import Template
from creditwatch_model import ARTIFACTS_DIR

ROOT = Path(__file__).resolve().parents[2]
TRANSFORM = Path(__file__).with_name("sam_transform.py")
# Every function but the deployment hooks (CodeDeploy invokes them by name): a new job is checked unlisted.
ALIASED = tuple(fn for fn in Template().functions() if fn not in DEPLOY_HOOKS)
CANARY_ALARMS = (
    "CanaryErrorsAlarm",
    "CanaryServerErrorsAlarm",
    "CanaryLatencyAlarm",
    "CanaryApprovalGapAlarm",
    "CanaryScorePsiAlarm",
)


def _transform(path: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1"})
    proc = subprocess.run(
        [str(ROOT / ".venv-sam/bin/python"), str(TRANSFORM), str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return _transform(ROOT / "template.yaml")


def _versions(doc: dict[str, Any], fn: str) -> list[str]:
    return [
        lid
        for lid, res in doc["Resources"].items()
        if res["Type"] == "AWS::Lambda::Version" and res["Properties"]["FunctionName"] == {"Ref": fn}
    ]


def _if(value: Any, conditions: dict[str, bool]) -> Any:
    """Evaluate nested Fn::If with the conditions given."""
    while isinstance(value, dict) and "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        value = yes if conditions[name] else no
    return value


def test_every_scheduled_or_routed_function_publishes_versions_under_live_and_is_called_through_it(
    transformed: dict[str, Any],
) -> None:
    res = transformed["Resources"]
    for fn in ALIASED:
        (version,) = _versions(transformed, fn)
        alias = res[f"{fn}Aliaslive"]["Properties"]
        assert alias["Name"] == "live" and alias["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}, fn
    schedules = {lid: r for lid, r in res.items() if r["Type"] == "AWS::Scheduler::Schedule"}
    events = [e for fn in ALIASED for e in Template().resources[fn]["Properties"].get("Events", {}).values()]
    # One per ScheduleV2 event of the template: drift, alerts, lake export, quality, compare, probe, ...
    assert len(schedules) == len([e for e in events if e["Type"] == "ScheduleV2"]) >= 6
    for lid, schedule in schedules.items():
        target = schedule["Properties"]["Target"]["Arn"]
        assert target.get("Ref", "").endswith("Aliaslive"), (lid, target)
    for lid, res_ in res.items():
        if res_["Type"] == "AWS::Lambda::EventInvokeConfig":
            assert res_["Properties"]["Qualifier"] == "live", lid
    integrations = [
        r["Properties"]["IntegrationUri"] for r in res.values() if r["Type"] == "AWS::ApiGatewayV2::Integration"
    ]
    assert sorted(json.dumps(i) for i in integrations) == sorted(
        json.dumps({"Ref": f"{fn}Aliaslive"}) for fn in ("PredictFunction", "ReportsFunction")
    )
    permissions = [r["Properties"]["FunctionName"] for r in res.values() if r["Type"] == "AWS::Lambda::Permission"
                   and r["Properties"]["Principal"] == "apigateway.amazonaws.com"]  # fmt: skip
    assert sorted(json.dumps(p) for p in permissions) == sorted(json.dumps(i) for i in integrations)
    # CodeDeploy invokes the hooks by name, never through an alias.
    assert not _versions(transformed, "PreTrafficHookFunction") and not _versions(
        transformed, "PostTrafficHookFunction"
    )


def test_the_model_version_literal_is_the_model_layers_version() -> None:
    metadata = json.loads((ARTIFACTS_DIR / "metadata.json").read_text())
    env = Template().function("PredictFunction").environment
    assert env["MODEL_VERSION"] == metadata["version"], "bump MODEL_VERSION in template.yaml with the model"


def test_a_model_only_change_publishes_a_new_predict_version(tmp_path: Path, transformed: dict[str, Any]) -> None:
    text = (ROOT / "template.yaml").read_text()
    literal = re.search(r'MODEL_VERSION: "([0-9a-f]+)"', text)
    assert literal
    changed = tmp_path / "template.yaml"
    changed.write_text(text.replace(literal.group(0), 'MODEL_VERSION: "0123456789ab"'))
    other = _transform(changed)
    # Only the predict function's configuration changed: its version (and only its) is a new resource,
    # and the alias CodeDeploy shifts points at it.
    assert _versions(other, "PredictFunction") != _versions(transformed, "PredictFunction")
    assert _versions(other, "AlertsFunction") == _versions(transformed, "AlertsFunction")
    (new,) = _versions(other, "PredictFunction")
    assert other["Resources"]["PredictFunctionAliaslive"]["Properties"]["FunctionVersion"] == {
        "Fn::GetAtt": [new, "Version"]
    }


def test_the_deployment_group_is_a_canary_in_prod_all_at_once_in_dev_and_rolls_back_on_ten_alarms_at_most(
    transformed: dict[str, Any],
) -> None:
    res = transformed["Resources"]
    group = res["PredictFunctionDeploymentGroup"]["Properties"]
    config = group["DeploymentConfigName"]
    dev = {"AutoDeploymentType": True, "IsProd": False}
    prod = {"AutoDeploymentType": True, "IsProd": True}
    chosen = {"AutoDeploymentType": False, "IsProd": True}
    assert _if(config, prod) == {
        "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent10Minutes"}]
    }
    assert _if(config, dev) == {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "AllAtOnce"}]}
    # SAM resolves the parameter in the Sub with the value it is deployed with (here the default).
    assert _if(config, chosen) == {"Fn::Sub": "CodeDeployDefault.LambdaAuto"}
    allowed = Template().doc["Parameters"]["DeploymentType"]["AllowedValues"]
    assert "Auto" in allowed and all(re.fullmatch(r"Auto|AllAtOnce|(Canary|Linear)10Percent\w+", v) for v in allowed)
    assert group["AutoRollbackConfiguration"]["Events"] == [
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
        "DEPLOYMENT_STOP_ON_REQUEST",
    ]
    alarms = [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]]
    assert len(alarms) <= 10 and alarms == [{"Ref": a} for a in CANARY_ALARMS]
    policy = res["PredictFunctionAliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert policy["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHookFunction"}
    assert policy["AfterAllowTrafficHook"] == {"Ref": "PostTrafficHookFunction"}
    for hook in ("PreTrafficHookFunction", "PostTrafficHookFunction"):
        # SAM's CodeDeploy role (AWSCodeDeployRoleForLambda) may invoke only functions named so.
        assert res[hook]["Properties"]["FunctionName"]["Fn::Sub"].startswith("CodeDeployHook_")


def _dimensions(stat: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}


def test_every_rollback_alarm_watches_the_new_version_only_and_thin_traffic_never_fires_the_model_ones(
    transformed: dict[str, Any],
) -> None:
    res = transformed["Resources"]
    (version,) = _versions(transformed, "PredictFunction")
    new_version = {"Fn::GetAtt": [version, "Version"]}
    for lid in CANARY_ALARMS:
        props = res[lid]["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}] and props["TreatMissingData"] == "notBreaching"
        stats = [m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if not stats:
            stats = [{"Metric": {"Dimensions": props["Dimensions"]}}]
        versioned = [s for s in stats if "function_version" in _dimensions(s) or "ExecutedVersion" in _dimensions(s)]
        assert versioned, lid
        for s in versioned:
            dims = _dimensions(s)
            assert dims.get("function_version", dims.get("ExecutedVersion")) == new_version, lid
    gap = {m["Id"]: m for m in res["CanaryApprovalGapAlarm"]["Properties"]["Metrics"]}
    assert "function_version" not in _dimensions(gap["pa"]["MetricStat"])  # every version: old = all - new
    assert gap["gap"]["Expression"]["Fn::Sub"].startswith(
        "IF(pn >= ${CanaryMinPredictions} AND (pa - pn) >= ${CanaryMinPredictions}"
    )
    psi = {m["Id"]: m for m in res["CanaryScorePsiAlarm"]["Properties"]["Metrics"]}
    assert [psi[f"b{i}"]["MetricStat"]["Metric"]["MetricName"] for i in range(1, 6)] == [
        f"ScoreBin{i}" for i in range(1, 6)
    ]
    assert psi["psi"]["Expression"]["Fn::Sub"].startswith("IF(n >= ${CanaryMinPredictions}, ")
    assert psi["psi"]["Expression"]["Fn::Sub"].count("LOG(") == 5 and len(psi["psi"]["Expression"]["Fn::Sub"]) <= 1024


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for policy in role["Properties"]["Policies"]:
        statements = policy["PolicyDocument"]["Statement"]
        for st in statements:
            if "Fn::If" in st:
                continue  # the data key, checked for every role by test_template.py
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            out |= {(a, json.dumps(r, sort_keys=True)) for a in actions for r in resources}
    return out


GROUP_ARN = json.dumps(
    {
        "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
        "${ServerlessDeploymentApplication}/${PredictFunctionDeploymentGroup}"
    }
)


def test_the_pre_traffic_hook_may_read_its_deployment_replay_published_versions_read_evidence_and_nothing_else(
    transformed: dict[str, Any],
) -> None:
    res = transformed["Resources"]
    versions = json.dumps({"Fn::Sub": "${PredictFunction.Arn}:*"})
    assert _grants(res["PreTrafficHookFunctionRole"]) == {
        ("codedeploy:GetDeployment", GROUP_ARN),
        ("codedeploy:PutLifecycleEventHookExecutionStatus", GROUP_ARN),
        ("lambda:InvokeFunction", versions),
        ("lambda:GetFunctionConfiguration", versions),
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["ModelRegistryBucket", "Arn"]})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ModelRegistryBucket.Arn}/evidence/*"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["NotificationsQueue", "Arn"]})),
    }
    listing = [st for p in res["PreTrafficHookFunctionRole"]["Properties"]["Policies"]
               for st in p["PolicyDocument"]["Statement"] if st.get("Action") == "s3:ListBucket"]  # fmt: skip
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": "evidence/*"}}
    env = res["PreTrafficHookFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PREDICT_FUNCTION_NAME"] == {"Ref": "PredictFunction"}
    # The replay set ships in the model layer the hook reads (the same layer version the new predict version has).
    layers = json.dumps(res["PreTrafficHookFunction"]["Properties"]["Layers"])
    assert layers == json.dumps(res["PredictFunction"]["Properties"]["Layers"])
    assert _grants(res["PostTrafficHookFunctionRole"]) == {
        ("codedeploy:PutLifecycleEventHookExecutionStatus", GROUP_ARN),
        *(("cloudwatch:DescribeAlarms", json.dumps({"Fn::GetAtt": [a, "Arn"]})) for a in CANARY_ALARMS),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["NotificationsQueue", "Arn"]})),
    }
    names = Template().function("PostTrafficHookFunction").environment["CANARY_ALARM_NAMES"].split(",")
    assert [n.rsplit("-", 1)[-1] for n in names] == list(CANARY_ALARMS)


def test_the_probe_calls_only_health_and_predict_and_its_alarm_pages_when_it_fails_or_stops(
    transformed: dict[str, Any],
) -> None:
    res = transformed["Resources"]
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/$default"
    assert _grants(res["ProbeFunctionRole"]) == {
        ("execute-api:Invoke", json.dumps({"Fn::Sub": f"{prefix}/GET/health"})),
        ("execute-api:Invoke", json.dumps({"Fn::Sub": f"{prefix}/POST/predict"})),
        # SAM's own, for the OnFailure destination of a crashed run
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["FailedRunsQueue", "Arn"]})),
    }
    alarm = res["ProbeFailedAlarm"]["Properties"]
    assert alarm["MetricName"] == "ProbeFailed" and alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] and alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    template = Template()
    assert template.function("ProbeFunction").environment["PROBE_SIGN_REQUESTS"] == "true"
    schedule = res["ProbeFunctionEveryMinute"]["Properties"]
    assert schedule["ScheduleExpression"] == {"Ref": "ProbeSchedule"}
    assert template.parameters["ProbeSchedule"] == "rate(1 minute)"
    # A JWT API has no token for the probe: no probe there rather than one that always fails.
    assert res["ProbeFunction"]["Condition"] == "ProbeApi" and res["ProbeFailedAlarm"]["Condition"] == "ProbeApi"
