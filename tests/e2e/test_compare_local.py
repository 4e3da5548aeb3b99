"""`creditwatch model compare` on the local stack: the compare job run as `creditwatch invoke` runs it."""

from datetime import UTC, datetime

import numpy as np
import pytest

from creditwatch_common.ids import uuid7
from creditwatch_common.log import PredictionLog
from creditwatch_common.records import LogRecord


@pytest.fixture(scope="module")
def shadowed(local_stack, stack_client):
    """300 scored records carrying a challenger's answer, written to the stack's prediction log."""
    from creditwatch.local.template import Template

    template = Template(endpoint=local_stack.endpoint)
    log = PredictionLog(
        dynamodb=stack_client("dynamodb"),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
    )
    rng = np.random.default_rng(0)
    now = int(datetime.now(UTC).timestamp() * 1000)
    records = []
    for i in range(300):
        p, q = float(rng.random()), float(rng.random())
        records.append(
            LogRecord(
                prediction_id=uuid7(now - i * 1000),
                request_id=f"r{i}",
                route="/predict",
                status=200,
                latency_ms=1.0,
                model_version="champ",
                features={"personal_status_and_sex": "A93", "age_in_years": 30 + i % 30, "foreign_worker": "A201"},
                probability_good_credit=p,
                decision="approve" if p >= 0.5 else "refuse",
                challenger_version="chall",
                challenger_probability_good_credit=q,
                challenger_decision="approve" if q >= 0.5 else "refuse",
            )
        )
    log.write(records)
    return records


def test_model_compare_json_gives_the_swap_set_and_each_models_approval_rate(local_stack, shadowed):
    out = local_stack.cli.json("model", "compare", "--last", "1h", "--json", "--no-notify")
    assert out["status"] == "ok" and out["challenger_version"] == "chall"
    assert sum(out["swap_set"].values()) == len(shadowed)
    approved = sum(r.decision == "approve" for r in shadowed) / len(shadowed)
    assert out["approval_rate"]["champion"] == pytest.approx(approved, abs=1e-6)
    assert set(out["approval_rate"]) == {"champion", "challenger"}


def test_model_compare_refuses_two_windows_in_one_line(local_stack):
    proc = local_stack.cli("model", "compare", "--last", "1h", "--start", "2026-11-01T00:00:00Z", check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: ")
