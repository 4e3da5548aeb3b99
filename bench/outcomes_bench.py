"""POST /outcomes against moto: 1,000 outcomes per request beside a 1,000-application batch, in one run.

    .venv/bin/python bench/outcomes_bench.py [--table-rows 20000]

Both go through the predict function's Lambda handler on an in-process moto (mock_aws) holding
`--table-rows` logged predictions. The baseline is /predict-batch of 1,000 applications (what the
same function does with a request of the same size); the outcomes request is timed with moto's own
TransactWriteItems (a deep copy of the whole table per action) and with the local stack's patch
(creditwatch/local/moto_patches.py: only the items a transaction names are copied), on one outcome
for moto's own (it is that slow: 1,000 would not fit in the deadline). Figures are moto's, not
DynamoDB's: they compare our code path and the local stack's cost, not the service.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / p) for p in ("src", "functions/predict", "layers/model/python", "layers/common/python", "tests")
]


class Ctx:
    """A Lambda context with the template's 29 s."""

    function_name = "PredictFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def main() -> None:
    """Print seconds per request and per outcome, and the ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--table-rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    import boto3
    import conftest  # noqa: F401 - the tests' offline environment and the template's function settings
    from moto import mock_aws

    from creditwatch.local import moto_patches
    from creditwatch.local.resources import create_resources
    from creditwatch.local.template import Template
    from creditwatch_common.aws import AwsClients
    from creditwatch_common.ids import uuid7s
    from creditwatch_common.log import LogWriter
    from creditwatch_common.records import LogRecord
    from creditwatch_predict.app import build
    from creditwatch_predict.schemas import SEED_EXAMPLE
    from creditwatch_predict.settings import PredictSettings

    with mock_aws():
        template = Template()
        create_resources(
            template, lambda s: boto3.client(s, region_name="us-east-1"), webhook_url="http://127.0.0.1:9/"
        )
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table, shards = template.ref("PredictionsTable"), int(template.parameters["LogShards"])
        ids = uuid7s(args.table_rows)
        LogWriter(dynamodb=ddb, table=table, shards=shards).write(
            [
                LogRecord(
                    prediction_id=i,
                    request_id="b",
                    kind="application",
                    route="/predict-batch",
                    status=200,
                    latency_ms=1.0,
                    model_version="v",
                    probability_good_credit=0.6,
                    prediction=1,
                    decision="approve",
                )
                for i in ids
            ]
        )
        service = build(PredictSettings(), AwsClients())
        base = json.loads((ROOT / "events/outcomes-valid.json").read_text())

        def post(path: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            event = json.loads(json.dumps(base))
            event["rawPath"] = event["requestContext"]["http"]["path"] = path
            event["body"] = json.dumps(body)
            started = time.perf_counter()
            resp = service.handler(event, Ctx())
            elapsed = time.perf_counter() - started
            assert resp["statusCode"] == 200, resp["body"][:300]
            return elapsed, json.loads(resp["body"])

        now = datetime.now(UTC).isoformat()

        def outcomes(chosen: list[str]) -> dict[str, Any]:
            return {"outcomes": [{"prediction_id": i, "outcome": "good", "observed_at": now} for i in chosen]}

        batch_s, _ = post("/predict-batch", {"applications": [SEED_EXAMPLE] * 1000})
        moto_s, answer = post("/outcomes", outcomes(ids[:1]))
        assert answer["counts"]["recorded"] == 1
        moto_patches.fast_transactions()
        patched_s, answer = post("/outcomes", outcomes(ids[100:1100]))
        assert answer["counts"]["recorded"] == 1000
        again_s, answer = post("/outcomes", outcomes(ids[100:1100]))
        assert answer["counts"]["unchanged"] == 1000
    print(f"table: {args.table_rows} logged predictions (moto, in process)")
    print(f"/predict-batch, 1,000 applications:            {batch_s:8.3f} s")
    print(f"/outcomes, 1,000 new outcomes (patched moto):  {patched_s:8.3f} s  ({patched_s / batch_s:.2f}x the batch)")
    print(f"/outcomes, the same 1,000 again (unchanged):   {again_s:8.3f} s  ({again_s / batch_s:.2f}x the batch)")
    per_outcome = moto_s
    print(
        f"moto's own transactions: {per_outcome * 1000:8.1f} ms per outcome, {per_outcome * 1000:.0f} s per 1,000 "
        f"({per_outcome / (patched_s / 1000):.0f}x the patched)"
    )


if __name__ == "__main__":
    main()
