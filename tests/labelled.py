"""Labelled history for tests: scored predictions backdated into a cohort, with outcomes on their items.

Imported by tests as `from labelled import seed_cohort` (pytest puts tests/ on sys.path, beside faults.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from creditwatch_common.ids import uuid7
from creditwatch_common.log.keys import key_attributes, keys_for
from creditwatch_common.records import LogRecord


def seed_cohort(
    log: Any,
    dynamodb: Any,
    table: str,
    shards: int,
    model: Any,
    *,
    n: int,
    start: datetime,
    end: datetime,
    concept_drift: bool = False,
    coverage: float = 1.0,
    seed: int = 0,
    booked_only: bool = False,
    referred: Callable[[LogRecord], bool] | None = None,
    bad_odds: float = 1.0,
) -> list[LogRecord]:
    """n scored predictions spread over [start, end), outcomes set on a share of their items (as /outcomes does).

    booked_only: outcomes only for approved predictions (booked loans, as a lender without bureau data sees them).
    referred: the records it is true of are referred to a reviewer (a referral and a case id, as /predict does).
    The applicants and their outcomes are `draw`'s.
    """
    rng = np.random.default_rng(seed)
    rows, bad = draw(model, n, rng, seed=seed, concept_drift=concept_drift, bad_odds=bad_odds)
    span = (end - start).total_seconds() * 1000
    records = []
    for i, row in enumerate(rows):
        ms = int(start.timestamp() * 1000 + span * (i + 0.5) / n)
        records.append(
            LogRecord(
                prediction_id=uuid7(ms),
                request_id=uuid7(ms),
                route="/predict",
                status=200,
                latency_ms=1.0,
                model_version=model.version,
                features={k: row[k] for k in model.schema.names},
                probability_good_credit=float(row["probability_good_credit"]),
                decision=row["decision"],
            )
        )
        if referred is not None and referred(records[-1]):
            records[-1] = records[-1].model_copy(update={"referral": ["band"], "case_id": uuid7()})
    before = _count(dynamodb, table)
    written = log.write(records)
    if written.spilled:
        # moto may fail a chunk past the writer's retries on a loaded host: the product's replay restores it.
        assert log.replay_spilled()["failed"] == 0
    assert not written.logged_only, written.errors[:3]
    # Counted by Scan, not the Query path the jobs read through: a short cohort then says which side lost rows.
    stored = _count(dynamodb, table) - before
    assert stored == len(records), f"{stored} items stored of {len(records)} written ({written})"
    for i, rec in enumerate(records):
        if rng.uniform() >= coverage or (booked_only and rec.decision != "approve"):
            continue
        dynamodb.update_item(
            TableName=table,
            Key=key_attributes(keys_for(rec.prediction_id, shards)),
            UpdateExpression="SET outcome = :o, outcome_observed_at = :t",
            ExpressionAttributeValues={":o": {"S": "bad" if bad[i] else "good"}, ":t": {"S": "2026-11-01T00:00:00Z"}},
        )
    return records


def _count(dynamodb: Any, table: str) -> int:
    n, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = dynamodb.scan(**kwargs)
        n += page["Count"]
        if "LastEvaluatedKey" not in page:
            return n
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def draw(
    model: Any,
    n: int,
    rng: np.random.Generator,
    *,
    seed: int = 0,
    concept_drift: bool = False,
    bad_odds: float = 1.0,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """n applicants of the model's reference sample with its answers (features, probability, decision), and bad.

    Outcomes are drawn from the model's calibrated P(bad) (quality as validated); with concept_drift,
    independently of the score at the same bad rate (the relation between inputs and outcome is gone); with
    bad_odds, at that many times the calibrated odds of bad (a changed world that repays worse, ranked alike).
    """
    from creditwatch_drift.service import load_reference
    from creditwatch_model import model_dir
    from creditwatch_model.calibration import Calibration

    reference = load_reference(model)
    rows = reference.sample(n=n, replace=True, random_state=seed).to_dict("records")
    p = np.array([r["probability_good_credit"] for r in rows])
    p_bad = Calibration.load(model_dir()).bad_probability(p)
    if bad_odds != 1.0:
        odds = bad_odds * p_bad / np.maximum(1 - p_bad, 1e-9)
        p_bad = odds / (1 + odds)
    bad = rng.uniform(size=n) < (np.full(n, p_bad.mean()) if concept_drift else p_bad)
    return rows, bad


def review_decisions(store: Any, records: list[LogRecord], decisions: dict[str, str], reviewer: str = "rita") -> None:
    """Refer the records named (prediction id -> reviewer's decision) and decide each case as a reviewer does."""
    from creditwatch_common.review import ReviewCase

    for rec in records:
        if rec.prediction_id not in decisions:
            continue
        case = ReviewCase(
            case_id=uuid7(),
            prediction_id=rec.prediction_id,
            created_at=rec.timestamp,
            model_decision=rec.decision,
            probability_good_credit=rec.probability_good_credit,
            model_version=rec.model_version,
            referral=["band"],
        )
        store.enqueue([case])
        decision = decisions[rec.prediction_id]
        reason = "agrees_with_model" if decision == rec.decision else "collateral_or_guarantor"
        assert store.decide(case.case_id, decision, reason, reviewer).status == "decided"
