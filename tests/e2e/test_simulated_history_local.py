"""A labelled history on the local stack, through the CLI: the concept-drift scenario end to end.

One stack for the module. 90 days at 20 applications a day (1,800 records, ~1,100 outcomes, the
applicants of the last 30 days too young for one) keep it short while the cohort after the change holds
~500 labels, enough for the quality job to judge.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from creditwatch_common.ids import iso_utc

PER_DAY = 20
DAYS = 90
CHANGE = 60
# Outcomes for every applicant (bureau data): the quality job then judges all scored applicants, on the AUC.
HISTORY = ("--per-day", str(PER_DAY), "--seed", "21", "--outcomes", "all", "--json")


@pytest.fixture(scope="module")
def concept(local_stack: Any) -> dict[str, Any]:
    """A 90-day concept-drift history whose change starts 60 days ago, outcomes for every applicant."""
    summary: dict[str, Any] = local_stack.cli.json(
        "simulate", "history", str(DAYS), "--scenario", "concept-drift", "--change-days-ago", str(CHANGE), *HISTORY
    )
    print("simulate history seconds:", summary["seconds"])
    return summary


def _validation_auc() -> float:
    from creditwatch_model import load_model

    return float(load_model().metadata["metrics"]["validation"]["auc"]["value"])


def _quality(local_stack: Any, days_from: int, days_to: int) -> dict[str, Any]:
    event = json.dumps({"days_ago_from": days_from, "days_ago_to": days_to})
    proc = local_stack.cli("invoke", "QualityFunction", "-e", "-", stdin=event)
    # The run's steps are in its log (a terminal draws them as a bar), the last one with the verdict.
    out: dict[str, Any] = json.loads(proc.stdout)
    steps = [json.loads(line)["progress"] for line in proc.stderr.splitlines() if '"progress"' in line]
    assert [s["done"] for s in steps] == [0, 1, 2, 3] and steps[-1]["step"] == f"done: {out['verdict']}"
    return out


def _labelled(stack_client: Any, local_stack: Any, start: datetime, end: datetime) -> list[Any]:
    from creditwatch.local.template import Template
    from creditwatch_common.log import LogReader
    from creditwatch_common.outcomes import LabelledRow

    template = Template(endpoint=local_stack.endpoint)
    reader = LogReader(
        dynamodb=stack_client("dynamodb"),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
    )
    return list(reader.query_window(start, end, LabelledRow, scored_only=True))


def test_history_writes_backdated_records_and_posts_their_matured_outcomes(
    local_stack: Any, stack_client: Any, concept: dict[str, Any]
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert concept["window"] == {"start": iso_utc(today - timedelta(days=DAYS)), "end": iso_utc(today)}
    assert concept["records_written"] == DAYS * PER_DAY
    outcomes = concept["outcomes"]
    assert outcomes["population"] == "all" and outcomes["refused_no_loan"] == 0
    # A batch the route could not store in time (503) is sent again: its stored part answers unchanged.
    stored = outcomes["by_status"].get("recorded", 0) + outcomes["by_status"].get("unchanged", 0)
    assert stored == outcomes["posted"] > 700
    assert outcomes["http"]["200"] == outcomes["posted"]
    assert outcomes["by_status"].get("conflict", 0) == 0
    rows = _labelled(stack_client, local_stack, today - timedelta(days=DAYS), today)
    assert len(rows) == DAYS * PER_DAY
    labelled = [r for r in rows if r.outcome is not None]
    assert len(labelled) == outcomes["posted"]
    for row in labelled:
        # Observed 30 to 60 days after the decision, never in the future.
        observed = datetime.fromisoformat(row.outcome_observed_at.replace("Z", "+00:00"))
        decided = datetime.fromisoformat(row.ts.replace("Z", "+00:00"))
        assert timedelta(days=30) <= observed - decided <= timedelta(days=60)
        assert observed <= datetime.now(UTC)
    # Nothing younger than the shortest delay has an outcome; the oldest month is ~85% covered.
    assert all(r.ts < iso_utc(today - timedelta(days=29)) for r in labelled)
    old = [r for r in rows if r.ts < iso_utc(today - timedelta(days=61))]
    assert sum(r.outcome is not None for r in old) / len(old) == pytest.approx(0.85, abs=0.05)
    # A record reads back whole, marked simulated by its request id.
    record = local_stack.cli.json("log", "get", labelled[0].prediction_id)
    assert record["request_id"] == f"simulated-history-concept-drift-{labelled[0].prediction_id}"
    assert record["ts"] == labelled[0].ts and len(record["contributions"]) == 19


def test_concept_drift_is_silent_to_input_drift_and_degrades_the_quality_job_through_invoke(
    local_stack: Any, concept: dict[str, Any]
) -> None:
    # QualityFunction's CLI-subprocess test (`creditwatch invoke`); the whole story (ok before the change,
    # degraded after it, one page) is the demo's (tests/e2e/test_demo.py), its rules tests/unit/test_quality.py's.
    cli = local_stack.cli
    end = concept["window"]["end"]
    week = iso_utc(datetime.fromisoformat(end.replace("Z", "+00:00")) - timedelta(days=7))
    drift = cli.json("drift", "--start", week, "--end", end, "--json")
    assert drift["status"] == "ok" and drift["dataset_drift"] is False, drift["drifted_features"]
    assert not (drift.get("attribution") or {}).get("drifted")

    validation = _validation_auc()
    after = _quality(local_stack, CHANGE, 0)
    assert after["verdict"] == "degraded", after
    assert after["population"]["name"] == "all_scored" and after["population"]["refused_labelled"] > 0
    realized, estimated = after["realized"]["auc"]["value"], after["estimated"]["auc"]["value"]
    assert realized < validation - 0.15  # realized off
    assert estimated == pytest.approx(validation, abs=0.05)  # the estimate cannot see it
    assert any(reason.startswith("AUC") for reason in after["reasons"])


def test_rerunning_the_same_history_writes_nothing_twice_and_outcomes_answer_unchanged(
    local_stack: Any, concept: dict[str, Any]
) -> None:
    again = local_stack.cli.json(
        "simulate", "history", str(DAYS), "--scenario", "concept-drift", "--change-days-ago", str(CHANGE), *HISTORY
    )
    assert again["records_written"] == 0 and again["records_existing"] == DAYS * PER_DAY
    assert again["outcomes"]["by_status"].get("unchanged", 0) >= concept["outcomes"]["posted"]
    assert again["outcomes"]["by_status"].get("conflict", 0) == 0
