"""template.yaml through the scanners a security review runs: checkov, and cfn-lint with AWS's serverless rules.

A check is passed or skipped in the template, next to the resource, with its reason; never ignored here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from template_functions import ROLLOUT_FUNCTIONS, image_jobs

from creditwatch.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def _checkov() -> str:
    """checkov of its own venv (`make setup` builds it from requirements/checkov.lock), else one on PATH."""
    for candidate in (os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov/bin/checkov"), shutil.which("checkov")):
        if candidate and Path(candidate).exists():
            return candidate
    raise AssertionError("checkov is not installed: run `make setup` (it builds .venv-checkov)")


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No Prisma Cloud account: nothing to download, nothing to send.
    env.update({"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"})
    return env


def test_checkov_finds_no_failed_check_and_every_skip_says_why() -> None:
    proc = subprocess.run(
        [_checkov(), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=300,
        check=False,
    )
    report: Any = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    summary, results = report["summary"], report["results"]
    print(f"checkov {summary['checkov_version']}: {summary}")  # the counts, in the test log
    assert summary["parsing_errors"] == 0
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in results["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert summary["passed"] >= 60, summary  # it did scan the resources
    for check in results["skipped_checks"]:
        assert len(check.get("check_result", {}).get("suppress_comment") or "") >= 20, check["check_id"]


def _skips() -> dict[str, list[dict[str, str]]]:
    doc = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    return {
        lid: res["Metadata"]["checkov"]["skip"]
        for lid, res in doc["Resources"].items()
        if "checkov" in (res.get("Metadata") or {})
    }


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_checkov_skips_are_the_reviewed_ones_each_with_its_reason() -> None:
    skips = _skips()
    reviewed = {
        # Lambda: the HTTP functions (predict, reports) are synchronous, no event to dead-letter; the jobs
        # (alerts, and every image job by kind) use OnFailure destinations. No function needs a VPC.
        **{fn: {"CKV_AWS_116", "CKV_AWS_117"} for fn in ("PredictFunction", "ReportsFunction", "AlertsFunction")},
        **{fn: {"CKV_AWS_116", "CKV_AWS_117"} for fn in image_jobs(Template())},
        # The deployment hooks run once per deployment (CodeDeploy waits for their reported status); the
        # probe once a minute: none needs a reservation, and a reservation must not throttle them.
        **{fn: {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"} for fn in ROLLOUT_FUNCTIONS},
        # Idempotency keys live a day and are rebuilt by the next request: nothing to restore.
        "IdempotencyTable": {"CKV_AWS_28"},
        # The access-log bucket does not log itself.
        "ReportsAccessLogsBucket": {"CKV_AWS_18"},
    }
    assert {lid: {s["id"] for s in entries} for lid, entries in skips.items()} == reviewed
    for entries in skips.values():
        assert all(len(s.get("comment") or "") >= 40 for s in entries), entries


def test_cfn_lint_serverless_rules_pass_and_each_ignored_rule_has_a_reason() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run(
        [str(cfn_lint), "-a", "cfn_lint_serverless.rules", "--", str(TEMPLATE)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ignores = [line for line in TEMPLATE.read_text().splitlines() if "ignore_checks:" in line]
    assert ignores, "the serverless rules ran without any reviewed exception?"
    for line in ignores:
        assert re.search(r"ignore_checks: \[[A-Z0-9, ]+\]\s+#\s*\S.{20,}", line), f"no reason: {line.strip()}"
