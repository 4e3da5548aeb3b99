"""The quality job on a local stack through the CLI: `creditwatch invoke QualityFunction`, then the alerts job."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labelled import seed_cohort

from creditwatch.local.template import Template
from creditwatch_common.log import PredictionLog

START, END = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)


def test_a_concept_drift_cohort_is_degraded_through_invoke_and_pages_slack_once(
    local_stack: Any, stack_client: Any, model: Any, tmp_path: Path
) -> None:
    template = Template()
    table = template.physical_name("PredictionsTable")
    shards = int(template.parameters["LogShards"])
    ddb = stack_client("dynamodb")
    seed_cohort(
        PredictionLog(dynamodb=ddb, table=table, shards=shards),
        ddb,
        table,
        shards,
        model,
        n=400,
        start=START,
        end=END,
        concept_drift=True,
        seed=11,
    )
    event = tmp_path / "quality.json"
    event.write_text(json.dumps({"start": START.isoformat(), "end": END.isoformat()}))
    cli = local_stack.cli
    summary = cli.json("invoke", "QualityFunction", "-e", str(event))
    assert summary["kind"] == "quality" and summary["verdict"] == "degraded", summary["message"]
    assert summary["rows"] == summary["labelled_rows"] == 400 and summary["notified"] is True
    assert summary["estimated"]["auc"]["value"] > summary["realized"]["auc"]["value"]
    assert summary["report_id"].startswith("quality.") and summary["report_url"]
    again = cli.json("invoke", "QualityFunction", "-e", str(event))  # a rerun of the same cohort
    assert again["verdict"] == "degraded" and again["report_id"] != summary["report_id"]
    cli("alerts")
    messages = [m for m in cli.json("slack", "--json") if "MODEL QUALITY DEGRADED" in json.dumps(m)]
    assert len(messages) == 1
    events = Path(__file__).resolve().parents[2] / "events"
    invalid = cli.json("invoke", "QualityFunction", "-e", str(events / "quality-invalid.json"))
    assert invalid["status"] == "invalid_event"
