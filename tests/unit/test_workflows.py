"""The CI/CD workflows and the OIDC roles: pinned actions, no stored keys, trust bound to repository and environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags kept as {tag: value}."""


_Loader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        suffix: loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)
    },
)


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version() -> None:
    uses = [line.strip() for wf in WORKFLOWS for line in wf.read_text().splitlines() if "uses:" in line]
    assert len(uses) >= 10
    for line in uses:
        ref = line.split("uses:", 1)[1].strip()
        if ref.startswith("./"):
            continue  # a workflow of this repository
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", ref), line


def test_aws_is_reached_through_oidc_only_and_every_job_that_does_names_an_environment() -> None:
    text = "\n".join(wf.read_text() for wf in WORKFLOWS)
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text and "secrets." not in text
    for wf in WORKFLOWS:
        doc = yaml.safe_load(wf.read_text())
        assert doc["permissions"] == {"contents": "read"}, wf.name
        for name, job in doc["jobs"].items():
            steps = job.get("steps", [])
            assumes = [s for s in steps if "configure-aws-credentials" in str(s.get("uses", ""))]
            if assumes:
                assert job["permissions"]["id-token"] == "write", name
                assert job.get("environment"), f"{name}: its role trusts an environment's token only"
                assert all("role-to-assume" in s["with"] for s in assumes), name
            else:
                assert "id-token" not in job.get("permissions", {}), name
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    assert (
        deploy["jobs"]["deploy-prod"]["needs"] == "deploy-dev"
        and deploy["jobs"]["deploy-prod"]["environment"] == "prod"
    )
    assert [j for j in deploy["jobs"].values() if "sam build" in str(j)] == [deploy["jobs"]["package"]]


def test_each_deploy_role_trusts_one_repository_and_one_environment_never_a_branch() -> None:
    doc: Any = yaml.load((ROOT / "deploy/oidc.yaml").read_text(), Loader=_Loader)
    roles = {lid: r for lid, r in doc["Resources"].items() if r["Type"] == "AWS::IAM::Role" and "Federated" in str(r)}
    subjects = {}
    for lid, role in roles.items():
        (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        condition = statement["Condition"]["StringEquals"]
        assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com", lid
        subjects[lid] = condition["token.actions.githubusercontent.com:sub"]["Sub"]
        assert "StringLike" not in statement["Condition"], f"{lid}: a wildcard subject"
    assert subjects == {
        "PackageRole": "repo:${GitHubOrg}/${GitHubRepo}:environment:package",
        "DevDeployRole": "repo:${GitHubOrg}/${GitHubRepo}:environment:dev",
        "ProdDeployRole": "repo:${GitHubOrg}/${GitHubRepo}:environment:prod",
    }
    dev = str(roles["DevDeployRole"]["Properties"]["Policies"])
    assert "stack/creditwatch-dev/*" in dev and "creditwatch-prod" not in dev
