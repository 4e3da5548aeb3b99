"""template.yaml: SAM's own linter, and what the SAM transform makes of roles, logs and parameters."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from creditwatch.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / ".venv-sam"
FUNCTIONS = ("PredictFunction", "DriftFunction", "AlertsFunction")


def _sam_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-1"})
    return env


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """The CloudFormation template SAM deploys (transform run offline in the SAM CLI's venv)."""
    proc = subprocess.run(
        [str(SAM_VENV / "bin/python"), str(Path(__file__).with_name("sam_transform.py")), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        env=_sam_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_sam_validate_lint_is_clean() -> None:
    proc = subprocess.run(
        [str(SAM_VENV / "bin/sam"), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        env=_sam_env(),
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def _statements(principal: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for policy in principal["Properties"].get("Policies", []):
        st = policy["PolicyDocument"]["Statement"]
        for one in st if isinstance(st, list) else [st]:
            # A statement under Fn::If: both branches are checked, AWS::NoValue drops out.
            branches = one["Fn::If"][1:] if "Fn::If" in one else [one]
            out.extend(b for b in branches if "Effect" in b)
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_function_has_its_own_role(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    roles = {}
    for fn in FUNCTIONS:
        role_ref = resources[fn]["Properties"]["Role"]
        assert role_ref == {"Fn::GetAtt": [f"{fn}Role", "Arn"]}, f"{fn} must get a role of its own"
        roles[fn] = resources[f"{fn}Role"]
    assert len({json.dumps(r["Properties"]["Policies"], sort_keys=True) for r in roles.values()}) == 3


def test_inline_policies_have_no_wildcard_actions_or_resources(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    checked = 0
    for lid, res in resources.items():
        if res["Type"] not in ("AWS::IAM::Role", "AWS::IAM::User"):
            continue
        for st in _statements(res):
            for action in _as_list(st["Action"]):
                assert "*" not in action, f"{lid}: wildcard action {action}"
            for resource in _as_list(st["Resource"]):
                text = json.dumps(resource)
                assert resource != "*", f"{lid}: Resource *"
                # A resource names one of this template's resources; object keys may end in a prefix/*.
                assert any(m in text for m in ("Fn::GetAtt", "Ref", "${")), (
                    f"{lid}: {text} names no resource of the stack"
                )
                if "*" in text:
                    assert text.count("*") == 1 and "/drift/" in text and text.endswith('/*"}'), (
                        f"{lid}: wildcard resource {text}"
                    )
            checked += 1
    assert checked >= 10


def test_roles_only_get_the_managed_policies_lambda_needs(transformed: dict[str, Any]) -> None:
    # The basic execution role (CloudWatch Logs) and X-Ray write access (Tracing: Active) are the only
    # managed policies: X-Ray's PutTraceSegments has no resource-level permissions at all.
    allowed = {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
    for fn in FUNCTIONS:
        arns = transformed["Resources"][f"{fn}Role"]["Properties"].get("ManagedPolicyArns", [])
        assert set(map(str, arns)) <= allowed, arns


def test_every_function_has_a_log_group_with_retention() -> None:
    template = Template()
    groups = {
        json.dumps(res["Properties"]["LogGroupName"]): res["Properties"]
        for res in template.resources.values()
        if res["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in res["Properties"]
    }
    for fn in FUNCTIONS:
        matching = [props for name, props in groups.items() if f"${{{fn}}}" in name]
        assert matching, f"no log group for {fn}"
        assert matching[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_parameters_are_constrained_and_globals_safe_for_image_functions() -> None:
    template = Template()
    for name, spec in template.doc["Parameters"].items():
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & spec.keys()
        assert constrained or spec.get("NoEcho"), f"parameter {name} accepts anything"
        assert "Description" in spec, name
    globals_fn = template.doc["Globals"]["Function"]
    # An image function fails to deploy if Runtime, Handler or Layers come from Globals.
    assert not {"Runtime", "Handler", "Layers", "CodeUri"} & globals_fn.keys()


def test_outputs_name_the_api_and_resources() -> None:
    outputs = Template().doc["Outputs"]
    for key in ("ApiUrl", "PredictionsTableName", "ReportsBucketName", "SpillQueueUrl", "DashboardUrl"):
        assert key in outputs, f"missing output {key}; have {sorted(outputs)}"


def test_table_bucket_and_queues_are_encrypted_and_retained() -> None:
    res = Template().resources
    table = res["PredictionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    bucket = res["ReportsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["LifecycleConfiguration"]["Rules"]
    policies = [r for r in res.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert any("aws:SecureTransport" in json.dumps(p) for p in policies)
    for q in ("SpillQueue", "NotificationsQueue", "SchedulesDeadLetterQueue"):
        assert res[q]["Properties"].get("SqsManagedSseEnabled") is True, q


def test_env_vars_file_only_sets_what_the_template_declares(tmp_path: Path) -> None:
    # `sam local invoke --env-vars` ignores undeclared variables: every key must be declared.
    from typer.testing import CliRunner

    from creditwatch.cli import app

    out = tmp_path / "local.json"
    result = CliRunner().invoke(app, ["local", "env-vars", "-o", str(out)])
    assert result.exit_code == 0, result.output
    generated = json.loads(out.read_text())
    template = Template()
    for fn, env in generated.items():
        declared = set(template.function(fn).environment)
        assert set(env) <= declared, set(env) - declared
        assert env["LOCAL_AWS_ENDPOINT"] == "http://host.docker.internal:4566"
    assert generated == json.loads((ROOT / "env/local.json").read_text()), "env/local.json is stale"


def test_report_links_are_signed_by_a_user_that_can_only_read_reports(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    (statement,) = _statements(resources["ReportLinkSignerUser"])
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/drift/reports/*"}
    assert not resources["ReportLinkSignerUser"]["Properties"].get("ManagedPolicyArns")

    # The drift role reads that one secret; no other function can.
    def secrets_read(fn: str) -> list[Any]:
        statements = _statements(resources[f"{fn}Role"])
        return [st["Resource"] for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])]

    assert secrets_read("DriftFunction") == [{"Ref": "ReportLinkSignerSecret"}]
    assert secrets_read("AlertsFunction") == [{"Ref": "SlackWebhookSecret"}] and secrets_read("PredictFunction") == []
    # The key is rotated through a parameter, never by hand-editing the secret.
    assert resources["ReportLinkSignerKey"]["Properties"]["Serial"] == {"Ref": "ReportLinkSignerKeySerial"}
    for lid in ("ReportLinkSignerUser", "ReportLinkSignerKey", "ReportLinkSignerSecret"):
        assert resources[lid]["Condition"] == "UseSignerUser"


@pytest.mark.parametrize(
    ("signer", "expected"), [("SignerUser", "creditwatch/dev/report-link-signer"), ("FunctionRole", "")]
)
def test_report_link_signer_parameter_switches_the_user_off(signer: str, expected: str) -> None:
    template = Template(overrides={"ReportLinkSigner": signer})
    assert template.function("DriftFunction").environment["REPORT_SIGNER_SECRET"] == expected
    local = {lid for lid, _kind, _props in template.data_resources()}
    assert ("ReportLinkSignerSecret" in local) is bool(expected)
