"""Smoke test of a deployed stack: the uptime probe's two calls, once, signed with the caller's credentials.

`python deploy/smoke.py --stack creditwatch-dev --region eu-west-1` (the deploy workflow runs it with the
SAM CLI's venv, which has boto3 and pydantic): exit 0 when both calls pass, else 1 with what failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions/probe"), str(ROOT / "layers/common/python")]


def main() -> int:
    """Read the stack's ApiUrl, probe it, print each call."""
    import boto3

    from creditwatch_probe.probe import Probe, sigv4_signer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region)
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    result = Probe(outputs["ApiUrl"], args.timeout, sigv4_signer(session.get_credentials(), args.region)).run()
    for check in result.checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"{mark} {check.name}: HTTP {check.status}, {check.latency_ms} ms, {check.detail}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
