"""Outcomes on a local stack through the `creditwatch` CLI: invoke, record, conflict, export, query the join."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def outcomes_event(outcomes: list[dict[str, Any]]) -> str:
    event = json.loads((EVENTS / "outcomes-valid.json").read_text())
    event["body"] = json.dumps({"outcomes": outcomes})
    return json.dumps(event)


def test_an_outcome_posted_to_the_local_stack_is_recorded_once_and_joins_its_prediction_in_the_lake(
    local_stack: Any,
) -> None:
    cli = local_stack.cli
    scored = json.loads(cli.json("invoke", "PredictFunction", "-e", str(EVENTS / "predict-valid.json"))["body"])
    pid = scored["prediction_id"]
    now = datetime.now(UTC).isoformat()
    sent = [{"prediction_id": pid, "outcome": "bad", "observed_at": now}]
    first = cli.json("invoke", "PredictFunction", "-e", "-", stdin=outcomes_event(sent))
    assert first["statusCode"] == 200
    assert json.loads(first["body"])["results"] == [{"prediction_id": pid, "status": "recorded", "outcome": "bad"}]
    other = [{"prediction_id": pid, "outcome": "good", "observed_at": now}]
    conflict = json.loads(cli.json("invoke", "PredictFunction", "-e", "-", stdin=outcomes_event(other))["body"])
    assert conflict["results"][0]["status"] == "conflict" and conflict["counts"]["conflict"] == 1
    record = cli.json("log", "get", pid)
    assert record["route"] == "/predict" and record["outcome"] == "bad" and record["outcome_recorded_at"]
    assert "1 outcome(s)" in cli("lake", "export", "--hours", "1").stdout
    out = cli.json(
        "lake",
        "query",
        "--json",
        f"SELECT p.decision, o.outcome, count(*) AS n FROM predictions p JOIN outcomes o USING (prediction_id) "
        f"WHERE p.prediction_id = '{pid}' GROUP BY 1, 2",
    )
    assert out == [{"decision": scored["decision"], "outcome": "bad", "n": 1}]
