"""template.yaml: SAM's own linter, and what the SAM transform makes of roles, logs and parameters."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from template_functions import service_functions

from creditwatch.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
SAM_VENV = ROOT / ".venv-sam"
# Every function but the rollout's (the deployment hooks and the probe, which have no reserved-concurrency
# parameter), read from the template: a new job is checked by every test below without being listed.
FUNCTIONS = tuple(service_functions(Template()))


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
    assert len({json.dumps(r["Properties"]["Policies"], sort_keys=True) for r in roles.values()}) == len(FUNCTIONS)


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
                    # Object keys under a prefix: drift and quality reports, the lake's hours, the history, the
                    # registry's versions, aliases and their history; or any key of the bucket that holds the lake
                    # workgroup's query results and nothing else.
                    prefixes = (
                        "/drift/",
                        "/quality/",
                        "/comparison/",
                        "/predictions/",
                        "/outcomes/",
                        "/reviews/",
                        "/history/",
                        "/versions/",
                        "/aliases/",
                        "/alias-history/",
                        "/evidence/",
                    )
                    results = text == json.dumps({"Fn::Sub": "${AthenaResultsBucket.Arn}/*"})
                    # The PreTraffic hook: the predict function's published versions (`<arn>:<version>`).
                    versions = text == json.dumps({"Fn::Sub": "${PredictFunction.Arn}:*"})
                    assert text.count("*") == 1 and (results or versions or any(p in text for p in prefixes)), (
                        f"{lid}: wildcard resource {text}"
                    )
                    assert text.endswith('/*"}') or versions, f"{lid}: wildcard resource {text}"
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
    for key in (
        "ApiUrl",
        "PredictionsTableName",
        "ReportsBucketName",
        "SpillQueueUrl",
        "DashboardUrl",
        "AlarmTopicArn",
        "FailedRunsQueueUrl",
    ):
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
    queues = [lid for lid, r in res.items() if r["Type"] == "AWS::SQS::Queue"]
    assert {"SpillQueue", "NotificationsQueue", "SchedulesDeadLetterQueue", "FailedRunsQueue"} <= set(queues)
    template = Template()
    for q in queues:
        assert template.resolve(res[q]["Properties"]).get("SqsManagedSseEnabled") is True, q


KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_data_key_parameter_encrypts_tables_queues_secrets_logs_and_environments_when_set() -> None:
    for key in ("", KEY):
        template = Template(overrides={"DataKmsKeyArn": key})
        created = _created(template)
        of = {kind: [lid for lid, k in created.items() if k == kind] for kind in set(created.values())}
        kinds = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup")
        props = {lid: template.resolve(template.resources[lid]["Properties"]) for kind in kinds for lid in of[kind]}
        for lid in of["AWS::DynamoDB::Table"]:
            assert props[lid]["SSESpecification"].get("KMSMasterKeyId") == (key or None), lid
        for lid in of["AWS::SQS::Queue"]:
            # A key of ours, or SQS-managed encryption: never both, never neither.
            assert props[lid].get("KmsMasterKeyId") == (key or None), lid
            assert props[lid].get("SqsManagedSseEnabled") is (None if key else True), lid
        for lid in of["AWS::SecretsManager::Secret"] + of["AWS::Logs::LogGroup"]:
            assert props[lid].get("KmsKeyId") == (key or None), lid
        globals_key = template.resolve(template.doc["Globals"]["Function"]["KmsKeyArn"])
        assert (None if not isinstance(globals_key, str) else globals_key) == (key or None)


def test_every_function_role_may_use_the_data_key_only_when_one_is_given(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    for fn in FUNCTIONS:
        statements = [
            st
            for p in resources[f"{fn}Role"]["Properties"]["Policies"]
            for st in _as_list(p["PolicyDocument"]["Statement"])
        ]
        (use,) = [st for st in statements if "Fn::If" in st and st["Fn::If"][0] == "HasDataKey"]
        assert use["Fn::If"][1]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert use["Fn::If"][1]["Resource"] == {"Ref": "DataKmsKeyArn"}
        assert use["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_reserved_concurrency_is_a_parameter_and_zero_leaves_functions_unreserved() -> None:
    # The API's functions have a parameter each; every job shares JobsReservedConcurrency.
    params = {"PredictFunction": "PredictReservedConcurrency", "ReportsFunction": "ReportsReservedConcurrency"}
    default = Template()
    for fn in FUNCTIONS:
        raw = default.resources[fn]["Properties"]["ReservedConcurrentExecutions"]
        assert default.resolve({"x": raw}) == {}, fn  # unreserved by default
        reserved = Template(overrides={params.get(fn, "JobsReservedConcurrency"): "7"})
        assert reserved.resolve(raw) == "7", fn


def test_reports_bucket_access_is_logged_to_a_private_bucket_that_expires_its_logs() -> None:
    res = Template().resources
    logging_config = res["ReportsBucket"]["Properties"]["LoggingConfiguration"]
    assert logging_config["DestinationBucketName"] == {"Ref": "ReportsAccessLogsBucket"}
    logs = res["ReportsAccessLogsBucket"]["Properties"]
    assert all(logs["PublicAccessBlockConfiguration"].values())
    # S3 server access logging cannot write to an SSE-KMS bucket.
    assert logs["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    (rule,) = logs["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}
    policy = res["ReportsAccessLogsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (write,) = [st for st in policy if st["Effect"] == "Allow"]
    assert write["Principal"] == {"Service": "logging.s3.amazonaws.com"} and write["Action"] == "s3:PutObject"
    # The lake's and the query results' access is logged there too (each under its own prefix).
    assert write["Condition"]["ArnLike"]["aws:SourceArn"] == [
        {"Fn::GetAtt": ["ReportsBucket", "Arn"]},
        {"Fn::GetAtt": ["LakeBucket", "Arn"]},
        {"Fn::GetAtt": ["AthenaResultsBucket", "Arn"]},
        {"Fn::GetAtt": ["ModelRegistryBucket", "Arn"]},
    ]
    assert res["LakeBucket"]["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "lake-bucket/"
    results = res["AthenaResultsBucket"]["Properties"]["LoggingConfiguration"]
    assert results["LogFilePrefix"] == "athena-results-bucket/"
    assert {"Fn::Sub": "${ReportsAccessLogsBucket.Arn}/athena-results-bucket/*"} in write["Resource"]
    registry = res["ModelRegistryBucket"]["Properties"]["LoggingConfiguration"]
    assert registry["LogFilePrefix"] == "model-registry-bucket/"
    assert {"Fn::Sub": "${ReportsAccessLogsBucket.Arn}/model-registry-bucket/*"} in write["Resource"]
    assert any("aws:SecureTransport" in json.dumps(st) for st in policy)


def test_each_secret_has_a_resource_policy_that_lets_only_its_functions_read_it() -> None:
    res = Template().resources
    readers = {
        "SlackWebhookSecret": ["AlertsFunctionRole"],
        "ReportLinkTokenSecret": ["DriftFunctionRole", "ReportsFunctionRole"],
        "ReportLinkSignerSecret": ["DriftFunctionRole"],
    }
    secrets = [lid for lid, r in res.items() if r["Type"] == "AWS::SecretsManager::Secret"]
    assert sorted(secrets) == sorted(readers)
    policies = {
        r["Properties"]["SecretId"]["Ref"]: r
        for r in res.values()
        if r["Type"] == "AWS::SecretsManager::ResourcePolicy"
    }
    for secret, roles in readers.items():
        policy = policies[secret]
        assert policy.get("Condition") == res[secret].get("Condition"), secret
        assert policy["Properties"]["BlockPublicPolicy"] is True
        (deny,) = policy["Properties"]["ResourcePolicy"]["Statement"]
        assert (
            deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "secretsmanager:GetSecretValue"
        )
        allowed = _as_list(deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
        assert allowed == [{"Fn::GetAtt": [role, "Arn"]} for role in roles], secret


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


def _created(template: Template) -> dict[str, str]:
    """Logical id -> type of every resource the template creates with its parameters."""
    return {
        lid: res["Type"]
        for lid, res in template.resources.items()
        if "Condition" not in res or template.condition(res["Condition"])
    }


def test_default_parameters_create_no_iam_user_or_access_key() -> None:
    created = set(_created(Template()).values())
    assert not {"AWS::IAM::User", "AWS::IAM::AccessKey"} & created
    opted_in = _created(Template(overrides={"ReportLinkSigner": "SignerUser"}))
    assert {"AWS::IAM::User", "AWS::IAM::AccessKey"} <= set(opted_in.values())


def _secrets_read(resources: dict[str, Any], fn: str) -> list[Any]:
    statements = _statements(resources[f"{fn}Role"])
    return [st["Resource"] for st in statements if "secretsmanager:GetSecretValue" in _as_list(st["Action"])]


def test_the_reports_route_has_no_authorizer_and_runs_the_reports_function() -> None:
    res = Template().resources
    route = res["ReportsRoute"]["Properties"]
    assert route["RouteKey"] == "GET /reports/{report_id}"
    assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route
    assert route["Target"] == {"Fn::Sub": "integrations/${ReportsIntegration}"}
    # The alias `live`, as every route and schedule (tests/integration/test_rollout_template.py).
    assert res["ReportsIntegration"]["Properties"]["IntegrationUri"] == {"Ref": "ReportsFunction.Alias"}
    # The catch-all route keeps the API's auth: only the token route is open.
    assert Template().resolve(res["HttpApiDefaultRoute"]["Properties"]["AuthorizationType"]) == "AWS_IAM"
    permission = res["ReportsInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "ReportsFunction.Alias"}
    assert permission["SourceArn"]["Fn::Sub"].endswith("${HttpApi}/*/GET/reports/*")


def test_the_reports_role_signs_reports_reads_its_key_and_the_deny_list_and_nothing_else(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]
    grants = {
        (action, json.dumps(st["Resource"], sort_keys=True))
        for st in _statements(resources["ReportsFunctionRole"])
        for action in _as_list(st["Action"])
    }
    param = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ReportLinksRevokedParameter}"
    assert grants == {
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/drift/reports/*"})),
        # The report history's page (id `index`), not its entries nor its ledger.
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/history/index.html"})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/quality/reports/*"})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/comparison/reports/*"})),
        ("secretsmanager:GetSecretValue", json.dumps({"Ref": "ReportLinkTokenSecret"})),
        ("ssm:GetParameter", json.dumps({"Fn::Sub": param})),
        # only with DataKmsKeyArn (the secret's key then)
        ("kms:Decrypt", json.dumps({"Ref": "DataKmsKeyArn"})),
        ("kms:GenerateDataKey", json.dumps({"Ref": "DataKmsKeyArn"})),
    }
    env = Template().function("ReportsFunction").environment
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"  # the 302 holds a pre-signed link
    # The drift run's result holds the token link: not in its traces either.
    assert Template().function("DriftFunction").environment["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert int(env["REPORT_PRESIGN_SECONDS"]) <= 900


def test_report_link_secrets_are_read_only_by_the_functions_that_need_them(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    # The drift role mints tokens (Token, the default) or reads the signer's key (SignerUser), one or the other.
    assert _secrets_read(resources, "DriftFunction") == [
        {"Ref": "ReportLinkSignerSecret"},
        {"Ref": "ReportLinkTokenSecret"},
    ]
    drift = resources["DriftFunctionRole"]["Properties"]["Policies"]
    conditions = [st["Fn::If"][0] for p in drift for st in p["PolicyDocument"]["Statement"] if "Fn::If" in st]
    assert conditions == ["UseSignerUser", "UseTokenLinks", "HasDataKey"]
    assert _secrets_read(resources, "ReportsFunction") == [{"Ref": "ReportLinkTokenSecret"}]
    assert _secrets_read(resources, "AlertsFunction") == [{"Ref": "SlackWebhookSecret"}]
    assert _secrets_read(resources, "PredictFunction") == []
    # The token key is generated by CloudFormation and rotated through a parameter, never typed in.
    generated = resources["ReportLinkTokenSecret"]["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "key" and generated["PasswordLength"] >= 32
    assert "ReportLinkTokenKeyVersion" in json.dumps(generated["SecretStringTemplate"])


def test_the_opt_in_signer_user_can_only_read_reports(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    (statement,) = _statements(resources["ReportLinkSignerUser"])
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/drift/reports/*"}
    assert not resources["ReportLinkSignerUser"]["Properties"].get("ManagedPolicyArns")
    # The key is rotated through a parameter, never by hand-editing the secret.
    assert resources["ReportLinkSignerKey"]["Properties"]["Serial"] == {"Ref": "ReportLinkSignerKeySerial"}
    for lid in ("ReportLinkSignerUser", "ReportLinkSignerKey", "ReportLinkSignerSecret"):
        assert resources[lid]["Condition"] == "UseSignerUser"


@pytest.mark.parametrize(
    ("signer", "signer_secret", "token_secret"),
    [
        ("Token", "", "creditwatch/dev/report-link-token"),
        ("SignerUser", "creditwatch/dev/report-link-signer", ""),
        ("FunctionRole", "", ""),
    ],
)
def test_report_link_signer_parameter_chooses_the_link_mode(signer: str, signer_secret: str, token_secret: str) -> None:
    template = Template(overrides={"ReportLinkSigner": signer})
    env = template.function("DriftFunction").environment
    assert env["REPORT_SIGNER_SECRET"] == signer_secret and env["REPORT_LINK_TOKEN_SECRET"] == token_secret
    local = {lid for lid, _kind, _props in template.data_resources()}
    assert ("ReportLinkSignerSecret" in local) is bool(signer_secret)
    # The route and its key exist in every mode: links already posted keep opening after a switch.
    assert {"ReportLinkTokenSecret", "ReportLinksRevokedParameter"} <= local


# ---- failures page someone ------------------------------------------------------------------------

ASYNC_EVENT_TYPES = {"Schedule", "ScheduleV2", "EventBridgeRule", "CloudWatchEvent", "S3", "SNS"}


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: res for lid, res in resources.items() if res["Type"] == kind}


def _arn_of(value: Any) -> str | None:
    """The logical id a `!GetAtt X.Arn` names, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical, attribute = target.split(".", 1) if isinstance(target, str) else target
        return str(logical) if attribute == "Arn" else None
    return None


def _failure_queues(resources: dict[str, Any]) -> dict[str, str]:
    """Every queue that receives what failed elsewhere, with what sends it there."""
    out: dict[str, str] = {}
    for lid, res in _of_type(resources, "AWS::SQS::Queue").items():
        redrive = res["Properties"].get("RedrivePolicy")
        if redrive:
            out[str(_arn_of(redrive["deadLetterTargetArn"]))] = f"redrive of {lid}"
    for lid, res in _of_type(resources, "AWS::Serverless::Function").items():
        props = res["Properties"]
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if on_failure:
            out[str(_arn_of(on_failure["Destination"]))] = f"OnFailure of {lid}"
        for event in props.get("Events", {}).values():
            dlq = event.get("Properties", {}).get("DeadLetterConfig", {}).get("Arn")
            if dlq:
                out[str(_arn_of(dlq))] = f"schedule of {lid}"
    return out


def test_every_alarm_pages_the_alarm_topic_when_it_fires_and_when_it_clears() -> None:
    alarms = _of_type(Template().resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 16
    for lid, alarm in alarms.items():
        props = alarm["Properties"]
        assert props.get("AlarmActions") == [{"Ref": "AlarmTopic"}], f"{lid} pages nobody"
        assert props.get("OKActions") == [{"Ref": "AlarmTopic"}], f"{lid} never says it cleared"
        # Chosen per alarm, never CloudWatch's default (missing), which holds a silent alarm in limbo.
        assert props.get("TreatMissingData") in ("notBreaching", "ignore", "breaching"), lid


def test_every_function_a_schedule_invokes_sends_its_failed_runs_to_an_alarmed_queue() -> None:
    template = Template()
    resources = template.resources
    alarmed = _alarmed_queues(resources)
    scheduled = [
        lid
        for lid, res in _of_type(resources, "AWS::Serverless::Function").items()
        if any(e["Type"] in ASYNC_EVENT_TYPES for e in res["Properties"].get("Events", {}).values())
    ]
    # The scan finds them (a new scheduled job joins them, and is checked below).
    known = {"DriftFunction", "AlertsFunction", "LakeExportFunction", "QualityFunction", "CompareFunction"}
    assert known | {"ProbeFunction"} <= set(scheduled)
    for lid in scheduled:
        config = resources[lid]["Properties"].get("EventInvokeConfig")
        assert config, f"{lid}: a failed run is dropped after Lambda's retries"
        on_failure = config["DestinationConfig"]["OnFailure"]
        assert on_failure["Type"] == "SQS" and _arn_of(on_failure["Destination"]) == "FailedRunsQueue"
        # The probe is not retried: the next minute's run is its retry, and a late probe measures nothing.
        retries = 0 if lid == "ProbeFunction" else 2
        assert config["MaximumRetryAttempts"] == retries
        # Room for the three attempts and Lambda's waits between them (1 and 2 minutes).
        timeout = template.function(lid).timeout
        assert config["MaximumEventAgeInSeconds"] >= (retries + 1) * timeout + (180 if retries else 0), lid
    assert "FailedRunsQueue" in alarmed
    failed_runs = resources["FailedRunsQueue"]["Properties"]
    resolved = Template().resolve(failed_runs)
    assert resolved["MessageRetentionPeriod"] == 1209600 and resolved["SqsManagedSseEnabled"] is True


def test_every_queue_a_consumer_reads_redrives_to_a_dead_letter_queue(transformed: dict[str, Any]) -> None:
    resources = Template().resources
    queues = _of_type(resources, "AWS::SQS::Queue")
    failure_queues = _failure_queues(resources)
    consumed = set(queues) - set(failure_queues)
    assert consumed == {"SpillQueue", "NotificationsQueue"}  # replay-spill and the alerts function
    for lid in consumed:
        redrive = queues[lid]["Properties"].get("RedrivePolicy")
        assert redrive, f"{lid}: a poison message is received forever"
        assert 1 <= redrive["maxReceiveCount"] <= 10
        dlq = queues[str(_arn_of(redrive["deadLetterTargetArn"]))]["Properties"]
        # A message keeps its first enqueue time in the DLQ: the DLQ must keep it at least as long.
        assert dlq["MessageRetentionPeriod"] >= queues[lid]["Properties"]["MessageRetentionPeriod"]
    assert {"SpillDeadLetterQueue", "NotificationsDeadLetterQueue"} <= set(failure_queues)
    # AWS refuses a queue whose visibility timeout is shorter than the timeout of a function reading it.
    cfn = transformed["Resources"]
    for fn in FUNCTIONS:
        for st in _statements(cfn[f"{fn}Role"]):
            if "sqs:ReceiveMessage" in _as_list(st["Action"]):
                queue = str(_arn_of(st["Resource"]))
                timeout = cfn[fn]["Properties"]["Timeout"]
                assert queues[queue]["Properties"]["VisibilityTimeout"] >= timeout, (fn, queue)


def _alarmed_queues(resources: dict[str, Any]) -> set[str]:
    """Queues with an alarm on any visible message."""
    out = set()
    for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/SQS" or props.get("MetricName") != "ApproximateNumberOfMessagesVisible":
            continue
        assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
        for dim in props["Dimensions"]:
            if dim["Name"] == "QueueName":
                out.add(dim["Value"]["Fn::GetAtt"][0])
    return out


def test_every_dead_letter_and_failure_queue_has_an_alarm() -> None:
    resources = Template().resources
    failure_queues = _failure_queues(resources)
    assert set(failure_queues) == {
        "SpillDeadLetterQueue",
        "NotificationsDeadLetterQueue",
        "SchedulesDeadLetterQueue",
        "FailedRunsQueue",
    }
    missing = set(failure_queues) - _alarmed_queues(resources)
    assert not missing, f"nobody hears of messages in {missing}"


def test_lambda_errors_throttles_drift_failures_and_gateway_5xx_are_alarmed() -> None:
    resources = Template().resources
    watched = set()
    for alarm in _of_type(resources, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for metric in stats or [props]:
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            watched.add((metric["Namespace"], metric["MetricName"], json.dumps(dims, sort_keys=True)))
    for fn in FUNCTIONS:
        for name in ("Errors", "Throttles"):
            assert ("AWS/Lambda", name, json.dumps({"FunctionName": {"Ref": fn}})) in watched, (fn, name)
    # Powertools: service from Metrics(service=...), environment its default dimension.
    drift_dims = {"environment": {"Ref": "Environment"}, "service": "creditwatch-drift"}
    assert ("CreditWatch", "DriftRunFailed", json.dumps(drift_dims, sort_keys=True)) in watched
    gateway = json.dumps({"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}, sort_keys=True)
    assert ("AWS/ApiGateway", "5xx", gateway) in watched and ("AWS/ApiGateway", "Count", gateway) in watched


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_alarms_may_use() -> None:
    resources = Template().resources
    topic = resources["AlarmTopic"]["Properties"]
    key_ref = topic["KmsMasterKeyId"]
    # Not alias/aws/sns: CloudWatch cannot use the AWS-managed key, and the alarms would publish nothing.
    assert isinstance(key_ref, dict) and resources[key_ref["Ref"]]["Type"] == "AWS::KMS::Key"
    key = resources[key_ref["Ref"]]["Properties"]
    assert key["EnableKeyRotation"] is True
    (grant,) = [st for st in key["KeyPolicy"]["Statement"] if st["Principal"].get("Service")]
    assert grant["Principal"]["Service"] == "cloudwatch.amazonaws.com"
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert grant["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("oncall@example.com", True)])
def test_the_email_subscription_exists_only_when_alarm_email_is_set(email: str, subscribed: bool) -> None:
    template = Template(overrides={"AlarmEmail": email})
    local = {lid for lid, _kind, _props in template.data_resources()}
    assert "AlarmTopic" in local
    assert ("AlarmEmailSubscription" in local) is subscribed
    sub = template.resources["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert template.resolve(sub["Properties"])["Endpoint"] == email or not subscribed


def test_roles_may_send_to_and_read_exactly_the_queues_they_use(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]

    def sqs_grants(fn: str) -> set[tuple[str, str]]:
        return {
            (action, str(_arn_of(st["Resource"])))
            for st in _statements(resources[f"{fn}Role"])
            for action in _as_list(st["Action"])
            if action.startswith("sqs:")
        }

    # GET /health?deep=true asks the spill queue for its attributes (its log-table check is a GetItem).
    assert sqs_grants("PredictFunction") == {
        ("sqs:SendMessage", "SpillQueue"),
        ("sqs:GetQueueAttributes", "SpillQueue"),
    }
    # SAM adds the OnFailure destination's sqs:SendMessage itself (Type: SQS); nothing more.
    assert sqs_grants("DriftFunction") == {
        ("sqs:SendMessage", "NotificationsQueue"),
        ("sqs:SendMessage", "FailedRunsQueue"),
    }
    assert sqs_grants("QualityFunction") == {
        ("sqs:SendMessage", "NotificationsQueue"),
        ("sqs:SendMessage", "FailedRunsQueue"),
    }
    assert sqs_grants("AlertsFunction") == {
        ("sqs:ReceiveMessage", "NotificationsQueue"),
        ("sqs:DeleteMessage", "NotificationsQueue"),
        # a notification it could not deliver is made visible again at once, for the next run
        ("sqs:ChangeMessageVisibility", "NotificationsQueue"),
        # it replays the spill queue into the log on every run
        ("sqs:ReceiveMessage", "SpillQueue"),
        ("sqs:DeleteMessage", "SpillQueue"),
        ("sqs:SendMessage", "FailedRunsQueue"),
    }
    for fn in FUNCTIONS:
        sns = [a for st in _statements(resources[f"{fn}Role"]) for a in _as_list(st["Action"]) if "sns:" in a]
        assert not sns, f"{fn} may publish to the alarm topic: {sns}"


# ---- the lake ---------------------------------------------------------------------------------------


def test_the_glue_table_declares_the_columns_and_layout_the_export_writes() -> None:
    import pyarrow as pa

    from creditwatch_analytics.lake.export import hour_key
    from creditwatch_analytics.lake.schema import LakeSchema, feature_schema

    res = Template().resources
    table = res["LakePredictionsTable"]["Properties"]["TableInput"]
    athena = {pa.string(): "string", pa.int64(): "bigint", pa.float64(): "double", pa.int32(): "int"}
    athena |= {pa.int16(): "smallint", pa.int8(): "tinyint"}
    written = [
        (f.name, "timestamp" if pa.types.is_timestamp(f.type) else athena[f.type])
        for f in LakeSchema.of(feature_schema().features).arrow
    ]
    declared = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert declared == written
    params = table["Parameters"]
    assert params["projection.enabled"] == "true" and "Crawler" not in json.dumps(res)
    location = params["storage.location.template"]["Fn::Sub"].replace("${LakeBucket}", "b")
    key = hour_key("predictions", datetime(2026, 3, 4, 5, tzinfo=UTC))
    assert f"s3://b/{key}".startswith(location.replace("${!dt}", "2026-03-04").replace("${!hour}", "05"))


def test_the_outcomes_glue_table_declares_the_columns_and_layout_the_export_writes() -> None:
    import pyarrow as pa

    from creditwatch_analytics.lake.export import hour_key
    from creditwatch_analytics.lake.outcomes import OUTCOME_SCHEMA

    res = Template().resources
    table = res["LakeOutcomesTable"]["Properties"]["TableInput"]
    athena = {pa.string(): "string", pa.bool_(): "boolean", pa.int16(): "smallint"}
    written = [(f.name, "timestamp" if pa.types.is_timestamp(f.type) else athena[f.type]) for f in OUTCOME_SCHEMA]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == written
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    location = params["storage.location.template"]["Fn::Sub"].replace("${LakeBucket}", "b")
    key = hour_key("outcomes", datetime(2026, 3, 4, 5, tzinfo=UTC))
    assert f"s3://b/{key}".startswith(location.replace("${!dt}", "2026-03-04").replace("${!hour}", "05"))
    # Auditors read it as they read the predictions.
    policy = json.dumps(res["LakeQueryPolicy"]["Properties"]["PolicyDocument"])
    assert "${LakeDatabase}/outcome_events" in policy and "${LakeBucket.Arn}/outcomes/*" in policy


def test_the_review_events_glue_table_declares_the_columns_and_layout_the_export_writes() -> None:
    import pyarrow as pa

    from creditwatch_analytics.lake.export import hour_key
    from creditwatch_analytics.lake.reviews import REVIEW_SCHEMA, REVIEWS_PREFIX

    res = Template().resources
    table = res["LakeReviewsTable"]["Properties"]["TableInput"]
    assert table["Name"] == "review_events"
    athena = {pa.string(): "string", pa.bool_(): "boolean", pa.int16(): "smallint"}
    written = [(f.name, "timestamp" if pa.types.is_timestamp(f.type) else athena[f.type]) for f in REVIEW_SCHEMA]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == written
    params = table["Parameters"]
    assert params["projection.enabled"] == "true"
    location = params["storage.location.template"]["Fn::Sub"].replace("${LakeBucket}", "b")
    key = hour_key(REVIEWS_PREFIX, datetime(2026, 3, 4, 5, tzinfo=UTC))
    assert f"s3://b/{key}".startswith(location.replace("${!dt}", "2026-03-04").replace("${!hour}", "05"))
    # Auditors read it as they read the predictions and outcomes.
    policy = json.dumps(res["LakeQueryPolicy"]["Properties"]["PolicyDocument"])
    assert "${LakeDatabase}/review_events" in policy and "${LakeBucket.Arn}/reviews/*" in policy


def test_the_lake_workgroup_cuts_off_big_scans_and_expires_its_results_in_a_bucket_without_object_lock() -> None:
    res = Template().resources
    config = res["LakeWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    results = config["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    assert results == "s3://${AthenaResultsBucket}/"
    rules = {r.get("Prefix"): r for r in res["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {"predictions/", "outcomes/", "reviews/"}
    assert rules["predictions/"]["ExpirationInDays"] == {"Ref": "LakeRetentionDays"}
    assert rules["outcomes/"]["ExpirationInDays"] == {"Ref": "LakeRetentionDays"}
    assert rules["reviews/"]["ExpirationInDays"] == {"Ref": "LakeRetentionDays"}
    bucket = res["LakeBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and bucket["VersioningConfiguration"]
    policy = json.dumps(res["LakeBucketPolicy"])
    assert "aws:SecureTransport" in policy
    # The results' bucket: private, encrypted, TLS only, every object (and old version) gone after a week,
    # and never locked, whatever LakeObjectLockDays locks the lake for.
    locked = Template(overrides={"LakeObjectLockDays": "800"})
    assert "ObjectLockConfiguration" in locked.resolve(locked.resources["LakeBucket"]["Properties"])
    props = locked.resolve(locked.resources["AthenaResultsBucket"]["Properties"])
    assert "ObjectLockEnabled" not in props and "ObjectLockConfiguration" not in props
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert "Prefix" not in rule and rule["Status"] == "Enabled"
    assert int(rule["ExpirationInDays"]) == 7 and int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"]) <= 7
    tls = res["AthenaResultsBucketPolicy"]["Properties"]
    assert tls["Bucket"] == {"Ref": "AthenaResultsBucket"} and "aws:SecureTransport" in json.dumps(tls)
    assert Template().doc["Outputs"]["AthenaResultsBucketName"]["Value"] == {"Ref": "AthenaResultsBucket"}
    # The auditors' grant: read-only on the predictions, write only in the results' bucket.
    statements = res["LakeQueryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    writes = [st for st in statements if any(a.startswith("s3:Put") for a in _as_list(st["Action"]))]
    assert [st["Resource"] for st in writes] == [{"Fn::Sub": "${AthenaResultsBucket.Arn}/*"}]
    for st in statements:
        assert all("*" not in a for a in _as_list(st["Action"])), st


def test_only_the_roles_that_run_athena_queries_touch_the_results_bucket(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    objects = json.dumps({"Fn::Sub": "${AthenaResultsBucket.Arn}/*"})

    def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {
            (a, json.dumps(r))
            for st in statements
            for a in _as_list(st["Action"])
            for r in _as_list(st["Resource"])
            if "AthenaResultsBucket" in json.dumps(r)
        }

    bucket = json.dumps({"Fn::GetAtt": ["AthenaResultsBucket", "Arn"]})
    # What AmazonAthenaFullAccess grants on a results location (Athena writes the results as the caller).
    needed = {
        *((a, bucket) for a in ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")),
        *(
            (a, objects)
            for a in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
        ),
    }
    # The drift job (the athena engine) and the auditors' managed policy run queries; no other role does.
    assert grants(_statements(resources["DriftFunctionRole"])) == needed
    auditors = resources["LakeQueryPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert grants(auditors) == needed
    for fn in FUNCTIONS:
        if fn != "DriftFunction":
            assert not grants(_statements(resources[f"{fn}Role"])), fn
    # Athena reads the lake as the caller: the drift role still locates the lake's bucket.
    locate = [st for st in _statements(resources["DriftFunctionRole"]) if "s3:GetBucketLocation" in st["Action"]]
    assert {"Fn::GetAtt": ["LakeBucket", "Arn"]} in [r for st in locate for r in _as_list(st["Resource"])]


def test_the_quality_role_reads_the_table_writes_only_the_quality_prefix_and_notifies(
    transformed: dict[str, Any],
) -> None:
    statements = _statements(transformed["Resources"]["QualityFunctionRole"])
    grants = {(a, json.dumps(st["Resource"], sort_keys=True)) for st in statements for a in _as_list(st["Action"])}
    objects = json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/quality/*"})
    assert grants == {
        ("dynamodb:Query", json.dumps({"Fn::GetAtt": ["PredictionsTable", "Arn"]})),
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["ReportsBucket", "Arn"]})),
        *((a, objects) for a in ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject")),
        # the report history: its entries, ledger and page (listing scoped to history/ like the drift role's)
        *((a, json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/history/*"})) for a in ("s3:GetObject", "s3:PutObject")),
        # the champion's moves the history's charts mark: the registry's champion alias history, read only
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["ModelRegistryBucket", "Arn"]})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ModelRegistryBucket.Arn}/alias-history/champion/*"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["NotificationsQueue", "Arn"]})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["FailedRunsQueue", "Arn"]})),
        ("secretsmanager:GetSecretValue", json.dumps({"Ref": "ReportLinkTokenSecret"})),
        ("kms:Decrypt", json.dumps({"Ref": "DataKmsKeyArn"})),
        ("kms:GenerateDataKey", json.dumps({"Ref": "DataKmsKeyArn"})),
        # the lake, read only: ListBucket on the reports bucket is above, this one is the lake's
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["LakeBucket", "Arn"]})),
        # the scoring version's card and artifacts in the registry, read only (listing scoped to versions/)
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["ModelRegistryBucket", "Arn"]})),
        ("s3:GetObject", json.dumps({"Fn::Sub": "${ModelRegistryBucket.Arn}/versions/*"})),
        (
            "s3:GetObject",
            json.dumps(
                [
                    {"Fn::Sub": "${LakeBucket.Arn}/predictions/*"},
                    {"Fn::Sub": "${LakeBucket.Arn}/outcomes/*"},
                    {"Fn::Sub": "${LakeBucket.Arn}/reviews/*"},
                ],
                sort_keys=True,
            ),
        ),
    }
    command = transformed["Resources"]["QualityFunction"]["Properties"]["ImageConfig"]["Command"]
    assert command == ["creditwatch_quality.handler.lambda_handler"]


def test_every_job_that_reads_the_lake_may_list_and_read_its_review_decisions(transformed: dict[str, Any]) -> None:
    # A labelled cohort (LakeWindow.labelled) and the drift window's counts read reviews/ beside the
    # predictions (the final decisions): a role granted one and not the other fails every deployed run
    # that reads the lake. The drift role's Athena queries join the Glue table review_events too.
    predictions, reviews = (json.dumps({"Fn::Sub": f"${{LakeBucket.Arn}}/{p}/*"}) for p in ("predictions", "reviews"))
    lake = json.dumps({"Fn::GetAtt": ["LakeBucket", "Arn"]})
    readers = []
    for lid, res in transformed["Resources"].items():
        if res["Type"] != "AWS::IAM::Role" or lid == "LakeExportFunctionRole":
            continue
        statements = _statements(res)
        reads = {
            json.dumps(r)
            for st in statements
            if "s3:GetObject" in _as_list(st["Action"])
            for r in _as_list(st["Resource"])
        }
        if predictions not in reads:
            continue
        readers.append(lid)
        assert reviews in reads, lid
        listed = [
            st.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
            for st in statements
            if "s3:ListBucket" in _as_list(st["Action"]) and json.dumps(st["Resource"]) == lake
        ]
        assert listed and all(p is None or "reviews/*" in _as_list(p) for p in listed), (lid, listed)
    assert {"DriftFunctionRole", "QualityFunctionRole", "CompareFunctionRole"} <= set(readers)
    catalog = [
        json.dumps(st["Resource"])
        for st in _statements(transformed["Resources"]["DriftFunctionRole"])
        if "glue:GetTable" in _as_list(st["Action"])
    ]
    assert len(catalog) == 1 and "${LakeDatabase}/review_events" in catalog[0]


def test_the_lake_export_role_reads_the_table_and_writes_only_the_lake_prefix(transformed: dict[str, Any]) -> None:
    statements = _statements(transformed["Resources"]["LakeExportFunctionRole"])
    grants = {(a, json.dumps(st["Resource"], sort_keys=True)) for st in statements for a in _as_list(st["Action"])}
    objects = json.dumps({"Fn::Sub": "${LakeBucket.Arn}/predictions/*"})
    assert grants == {
        ("dynamodb:Query", json.dumps({"Fn::GetAtt": ["PredictionsTable", "Arn"]})),
        # the marks of hours a spill replay wrote into, in their one partition (never a record)
        ("dynamodb:DeleteItem", json.dumps({"Fn::GetAtt": ["PredictionsTable", "Arn"]})),
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["LakeBucket", "Arn"]})),
        ("s3:GetObject", objects),
        ("s3:PutObject", objects),
        ("s3:PutObject", json.dumps({"Fn::Sub": "${LakeBucket.Arn}/outcomes/*"})),
        # an hour whose outcome events were all erased loses its object
        ("s3:DeleteObject", json.dumps({"Fn::Sub": "${LakeBucket.Arn}/outcomes/*"})),
        # review decisions, beside the outcomes, the same way
        ("s3:PutObject", json.dumps({"Fn::Sub": "${LakeBucket.Arn}/reviews/*"})),
        ("s3:DeleteObject", json.dumps({"Fn::Sub": "${LakeBucket.Arn}/reviews/*"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["FailedRunsQueue", "Arn"]})),
        # only when DataKmsKeyArn is set (an Fn::If; AWS::NoValue otherwise)
        ("kms:Decrypt", json.dumps({"Ref": "DataKmsKeyArn"})),
        ("kms:GenerateDataKey", json.dumps({"Ref": "DataKmsKeyArn"})),
    }
    (delete,) = [st for st in statements if "dynamodb:DeleteItem" in _as_list(st["Action"])]
    assert delete["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["LAKE#PENDING"]}}


def test_every_function_log_group_masks_personal_data_as_a_second_net() -> None:
    template = Template()
    groups = [
        res["Properties"]
        for res in template.resources.values()
        if res["Type"] == "AWS::Logs::LogGroup" and "/aws/lambda/" in json.dumps(res["Properties"].get("LogGroupName"))
    ]
    assert len(groups) == len(template.functions())
    for props in groups:
        policy = props["DataProtectionPolicy"]
        by_operation = {next(iter(st["Operation"])): st["DataIdentifier"] for st in policy["Statement"]}
        # CloudWatch Logs wants one Audit and one Deidentify statement over the same identifiers.
        assert set(by_operation) == {"Audit", "Deidentify"}
        assert by_operation["Audit"] == by_operation["Deidentify"]
        names = {arn.rsplit("/", 1)[1] for arn in by_operation["Deidentify"]}
        assert {"EmailAddress", "Ssn-US"} <= names


def test_only_the_predict_role_touches_the_idempotency_table_with_exactly_what_it_needs(
    transformed: dict[str, Any],
) -> None:
    resources = transformed["Resources"]

    def grants(fn: str) -> set[str]:
        return {
            action
            for st in _statements(resources[f"{fn}Role"])
            for action in _as_list(st["Action"])
            if str(_arn_of(st["Resource"])) == "IdempotencyTable"
        }

    assert grants("PredictFunction") == {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    assert not grants("DriftFunction") and not grants("AlertsFunction")
    table = Template().resources["IdempotencyTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    env = resources["PredictFunction"]["Properties"]["Environment"]["Variables"]
    assert env["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}


def test_retention_meets_reg_b_and_the_ai_act_by_default_and_the_lake_can_be_locked_in_compliance_mode() -> None:
    template = Template()
    params = template.doc["Parameters"]
    # 12 CFR 1002.12: 25 months; EU AI Act: logs kept at least six months.
    assert int(params["LakeRetentionDays"]["Default"]) >= 761 and int(params["LakeRetentionDays"]["MinValue"]) >= 183
    assert int(params["RejectedTtlDays"]["Default"]) < int(params["PredictionTtlDays"]["Default"])
    table = template.resources["PredictionsTable"]["Properties"]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    env = template.function("PredictFunction").environment
    assert env["REJECTED_TTL_DAYS"] == params["RejectedTtlDays"]["Default"].__str__()
    unlocked = template.resolve(template.resources["LakeBucket"]["Properties"])
    assert "ObjectLockEnabled" not in unlocked and "ObjectLockConfiguration" not in unlocked
    locked_t = Template(overrides={"LakeObjectLockDays": "800"})
    locked = locked_t.resolve(locked_t.resources["LakeBucket"]["Properties"])
    assert locked["ObjectLockEnabled"] is True
    assert locked["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": "800"}
    assert locked["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_predict_role_has_exactly_the_log_actions_scoring_and_outcomes_use(transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    grants = {
        action
        for st in _statements(resources["PredictFunctionRole"])
        for action in _as_list(st["Action"])
        if str(_arn_of(st["Resource"])) == "PredictionsTable"
    }
    # Writes of the log (PutItem, BatchWriteItem); POST /outcomes reads (BatchGetItem, GetItem) and sends
    # one TransactWriteItems per outcome, which IAM authorises as its UpdateItem and PutItem actions;
    # GET /health?deep=true's probe is a GetItem too (no DescribeTable).
    assert grants == {
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    }
    # One catch-all route with the API's authorisation: /outcomes is authorised as /predict is.
    routes = _of_type(resources, "AWS::ApiGatewayV2::Route")
    default = next(r for r in routes.values() if r["Properties"]["RouteKey"] == "$default")
    assert default["Properties"]["Target"] == {"Fn::Sub": "integrations/${HttpApiIntegration}"}
