"""Creates in moto the data resources template.yaml declares: tables, queues, topics, buckets, secrets, parameters."""

from __future__ import annotations

import contextlib
import json
import secrets
import string
from collections.abc import Callable
from typing import Any

from creditwatch.local.template import Template


def create_resources(template: Template, client: Callable[[str], Any], webhook_url: str = "") -> list[str]:
    """Create (or leave as they are) the tables, queues, buckets, secrets and topics the template declares."""
    created = []
    redrives: dict[str, str] = {}  # queue URL -> RedrivePolicy, set once every dead-letter queue exists
    for logical_id, kind, raw in template.data_resources():
        props = template.resolve(raw)
        name = template.physical_name(logical_id)
        if kind == "AWS::DynamoDB::Table":
            _create_table(client("dynamodb"), name, props)
        elif kind == "AWS::SQS::Queue":
            attrs = {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in props.items()
                if k in ("MessageRetentionPeriod", "VisibilityTimeout", "SqsManagedSseEnabled")
            }
            url = client("sqs").create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
            if "RedrivePolicy" in props:
                redrives[url] = json.dumps(props["RedrivePolicy"])
        elif kind == "AWS::SNS::Topic":
            # moto keeps the KMS key id as an attribute and encrypts nothing; the name is what Ref resolves.
            attrs = {k: str(props[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in props}
            client("sns").create_topic(Name=name, Attributes=attrs)
        elif kind == "AWS::SNS::Subscription":
            _subscribe(client("sns"), props)
        elif kind == "AWS::S3::Bucket":
            _create_bucket(client("s3"), name, props, template)
        elif kind == "AWS::SecretsManager::Secret":
            key = _access_key_in(template, raw)
            if key:
                _put_secret(client("secretsmanager"), name, json.dumps(_local_access_key(template, client("iam"), key)))
            elif "webhook_url" in json.dumps(props.get("GenerateSecretString", {})):
                _put_secret(client("secretsmanager"), name, json.dumps({"webhook_url": webhook_url}))
            else:
                _generate_secret(client("secretsmanager"), name, props.get("GenerateSecretString", {}))
        elif kind == "AWS::SSM::Parameter":
            _create_parameter(client("ssm"), name, props)
        created.append(f"{kind} {logical_id} -> {name}")
    for url, policy in redrives.items():
        client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})
    return created


def _subscribe(sns: Any, props: dict[str, Any]) -> None:
    """Subscribe an endpoint to a topic once (SNS itself returns the existing subscription)."""
    existing = sns.list_subscriptions_by_topic(TopicArn=props["TopicArn"])["Subscriptions"]
    if not any(s["Protocol"] == props["Protocol"] and s["Endpoint"] == props["Endpoint"] for s in existing):
        sns.subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])


def _create_table(ddb: Any, name: str, props: dict[str, Any]) -> None:
    try:
        ddb.describe_table(TableName=name)
        return
    except ddb.exceptions.ResourceNotFoundException:
        pass
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    ddb.create_table(**kwargs)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


def _create_bucket(s3: Any, name: str, props: dict[str, Any], template: Template) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name not in existing:
        s3.create_bucket(Bucket=name)
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "BucketEncryption" in props:
        # CloudFormation and the S3 API spell the same rule differently.
        rules = [
            {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if props.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    lifecycle = []
    for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
        out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            out["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            out["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        lifecycle.append(out)
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})
    # The bucket's policy is a resource of its own in the template: apply it too, less its TLS-only
    # statements (moto enforces them, and the local endpoint is plain HTTP on loopback).
    for res in template.resources.values():
        if res["Type"] == "AWS::S3::BucketPolicy" and template.resolve(res["Properties"]["Bucket"]) == name:
            policy = template.resolve(res["Properties"]["PolicyDocument"])
            policy["Statement"] = [st for st in policy["Statement"] if "aws:SecureTransport" not in json.dumps(st)]
            if policy["Statement"]:
                s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
            else:
                s3.delete_bucket_policy(Bucket=name)


def _access_key_in(template: Template, raw: dict[str, Any]) -> str | None:
    """The AWS::IAM::AccessKey whose key a secret holds, if it holds one."""
    text = json.dumps(raw.get("SecretString", ""))
    keys = [lid for lid, res in template.resources.items() if res["Type"] == "AWS::IAM::AccessKey"]
    return next((lid for lid in keys if f"${{{lid}}}" in text), None)


def _local_access_key(template: Template, iam: Any, key_id: str) -> dict[str, str]:
    """Create the key's IAM user (with its inline policies) on the local stack and a fresh key."""
    user_lid = template.resources[key_id]["Properties"]["UserName"]["Ref"]
    user = template.physical_name(user_lid)
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=user)
    for policy in template.resolve(template.resources[user_lid].get("Properties", {}).get("Policies", [])):
        iam.put_user_policy(
            UserName=user, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
        )
    # One key at a time, as a rotation leaves it (IAM allows two per user).
    for old in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=old["AccessKeyId"])
    new = iam.create_access_key(UserName=user)["AccessKey"]
    return {"access_key_id": new["AccessKeyId"], "secret_access_key": new["SecretAccessKey"]}


def _generate_secret(sm: Any, name: str, spec: dict[str, Any]) -> None:
    """Create a secret as CloudFormation's GenerateSecretString does, once: `local up` again keeps its value.

    A new value on every `up` would be a key rotation, and would kill every link already minted.
    """
    with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId=name)
        return
    length = int(spec.get("PasswordLength", 32))
    # Letters and digits only, as ExcludePunctuation asks (and what every secret here asks for).
    alphabet = string.ascii_letters + string.digits
    generated = "".join(secrets.choice(alphabet) for _ in range(length))
    if "GenerateStringKey" in spec:
        value = json.loads(spec.get("SecretStringTemplate") or "{}")
        value[spec["GenerateStringKey"]] = generated
        text = json.dumps(value)
    else:
        text = generated
    sm.create_secret(Name=name, SecretString=text)


def _create_parameter(ssm: Any, name: str, props: dict[str, Any]) -> None:
    """Create an SSM parameter with the template's value, once: later edits (a revocation) are kept."""
    with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name=name, Type=props.get("Type", "String"), Value=str(props["Value"]), Overwrite=False)


def _put_secret(sm: Any, name: str, value: str) -> None:
    try:
        sm.create_secret(Name=name, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
