"""The labelled history generator: plans, backdated ids, marking, the calibrated truth and each scenario."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from creditwatch import labelled_history as h
from creditwatch_common.ids import uuid7_millis

END = datetime(2026, 11, 27, tzinfo=UTC)
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def world(model: Any) -> h.World:
    return h.build_world(model)


def _frame(apps: list[h.Simulated]) -> pd.DataFrame:
    return pd.DataFrame([a.features for a in apps])


def _scores(model: Any, apps: list[h.Simulated]) -> np.ndarray:
    return model.predict_good([a.features for a in apps])


def _good(apps: list[h.Simulated]) -> np.ndarray:
    return np.array([a.outcome == "good" for a in apps], dtype=float)


def test_plans_refuse_what_cannot_be_simulated_with_the_flag_to_change() -> None:
    with pytest.raises(ValueError, match="choose from stable, concept-drift, covariate-shift"):
        h.HistoryPlan("drift", days=10)
    with pytest.raises(ValueError, match="1 to 365 days"):
        h.HistoryPlan("stable", days=0)
    with pytest.raises(ValueError, match="--per-day"):
        h.HistoryPlan("stable", days=5, per_day=0)
    with pytest.raises(ValueError, match="--outcome-coverage"):
        h.HistoryPlan("stable", days=5, coverage=1.5)
    with pytest.raises(ValueError, match="--outcomes is approved or all"):
        h.HistoryPlan("stable", days=5, outcomes="refused")
    with pytest.raises(ValueError, match="0 <= MIN <= MAX"):
        h.HistoryPlan("stable", days=5, delay_days=(60, 30))
    with pytest.raises(ValueError, match="stable changes nothing"):
        h.HistoryPlan("stable", days=10, change_days_ago=3)
    with pytest.raises(ValueError, match="2 or more"):
        h.HistoryPlan("covariate-shift", days=1)
    with pytest.raises(ValueError, match="1 to 9"):
        h.HistoryPlan("concept-drift", days=10, change_days_ago=10)
    assert h.HistoryPlan("concept-drift", days=90).change_ago == 60
    assert h.HistoryPlan("covariate-shift", days=90, change_days_ago=20).change_ago == 20
    assert h.HistoryPlan("stable", days=90).change_ago is None


def test_outcome_delays_read_as_a_range_or_one_value() -> None:
    assert h.parse_delay("30..60") == (30, 60)
    assert h.parse_delay("45") == (45, 45)
    with pytest.raises(ValueError, match=r"MIN\.\.MAX"):
        h.parse_delay("thirty")
    with pytest.raises(ValueError, match=r"MIN\.\.MAX"):
        h.parse_delay("1..2..3")


def test_the_same_seed_gives_the_same_history_and_another_seed_another(world: h.World) -> None:
    plan = h.HistoryPlan("concept-drift", days=6, per_day=50, seed=7)
    first, again = h.generate(plan, world, END), h.generate(plan, world, END)
    assert first == again
    other = h.generate(h.HistoryPlan("concept-drift", days=6, per_day=50, seed=8), world, END)
    assert [a.prediction_id for a in other] != [a.prediction_id for a in first]
    # Another scenario with the same seed never reuses the ids: both histories can share a log.
    stable = h.generate(h.HistoryPlan("stable", days=6, per_day=50, seed=7), world, END)
    assert not {a.prediction_id for a in stable} & {a.prediction_id for a in first}


def test_history_fills_whole_days_before_its_end_with_ids_of_their_backdated_time(world: h.World) -> None:
    plan = h.HistoryPlan("stable", days=5, per_day=40)
    apps = h.generate(plan, world, END)
    end_ms = int(END.timestamp() * 1000)
    assert len(apps) == 200
    assert all(end_ms - 5 * DAY_MS <= a.at_ms < end_ms for a in apps)
    per_day = pd.Series([(end_ms - a.at_ms) // DAY_MS for a in apps]).value_counts()
    assert sorted(per_day.tolist()) == [40] * 5
    assert [a.at_ms for a in apps] == sorted(a.at_ms for a in apps)
    assert all(uuid7_millis(a.prediction_id) == a.at_ms for a in apps)
    assert len({a.prediction_id for a in apps}) == 200
    assert h.history_end(datetime(2026, 11, 27, 18, 3, tzinfo=UTC)) == END


def test_records_are_what_predict_logs_for_the_applications_and_marked_simulated(world: h.World, model: Any) -> None:
    apps = h.generate(h.HistoryPlan("covariate-shift", days=3, per_day=20, change_days_ago=1), world, END)
    records = list(h.build_records(model, "covariate-shift", apps))
    assert len(records) == len(apps)
    base, phi = model.explain([a.features for a in apps])
    scores = model.score([a.features for a in apps])
    for record, app, score, contributions in zip(records, apps, scores, phi, strict=True):
        assert record.prediction_id == app.prediction_id
        assert record.request_id == f"simulated-history-covariate-shift-{app.prediction_id}"
        assert record.model_version == model.version  # the served version: the jobs compare it
        assert (record.route, record.method, record.status, record.kind) == ("/predict", "POST", 200, "request")
        assert record.features == app.features
        assert record.probability_good_credit == score.probability_good_credit
        assert (record.decision, record.risk_level, record.prediction) == (
            score.decision,
            score.risk_level,
            score.prediction,
        )
        assert record.contributions == pytest.approx(contributions, abs=1e-6)
        assert record.millis == app.at_ms
        assert app.approved == (record.decision == "approve")  # outcomes follow the decision /predict logged
    fields = {k for k, v in records[0].model_dump().items() if v is not None}
    assert fields == {
        "prediction_id",
        "request_id",
        "kind",
        "route",
        "method",
        "status",
        "latency_ms",
        "model_version",
        "features",
        "contributions",
        "probability_good_credit",
        "prediction",
        "decision",
        "risk_level",
    }
    assert base == pytest.approx(model.metadata["explanation"]["base_value"])


def test_applicants_are_new_rows_with_the_training_distribution(model: Any, world: h.World) -> None:
    apps = h.recombine(world.base, 20_000, np.random.default_rng(1))
    frame = pd.DataFrame(apps)
    reference = pd.DataFrame(world.base)
    assert len(world.base) == model.metadata["training"]["train_rows"]
    for name in ["status_of_existing_checking_account", "purpose"]:
        ours = frame[name].value_counts(normalize=True)
        theirs = reference[name].value_counts(normalize=True)
        assert (ours - theirs).abs().max() < 0.015
    assert frame["credit_amount"].mean() == pytest.approx(reference["credit_amount"].mean(), rel=0.03)
    seen = set(map(tuple, reference.itertuples(index=False, name=None)))
    new = sum(tuple(a.values()) not in seen for a in apps[:2000]) / 2000
    assert new > 0.95
    # As the validation data does: the forest approves about as many as on its holdout.
    held_out = model.metadata["metrics"]["holdout"]["at_threshold"]["confusion_matrix"]["matrix"]
    holdout_approval = (held_out[0][1] + held_out[1][1]) / 300
    assert (model.predict_good(apps) >= model.threshold).mean() == pytest.approx(holdout_approval, abs=0.03)


def test_the_truth_is_calibrated_so_stable_traffic_performs_as_validated(model: Any, world: h.World) -> None:
    validation = model.metadata["metrics"]["holdout"]["roc_auc"]
    sample = h.recombine(world.base, h.CALIBRATION_SAMPLE, np.random.default_rng(0))
    expected = h.expected_auc(model.predict_good(sample), world.truth.bad_probability(sample))
    assert expected == pytest.approx(validation, abs=1e-4)
    apps = h.generate(h.HistoryPlan("stable", days=60, per_day=300, seed=3), world, END)
    realized = h.sample_auc(_scores(model, apps), _good(apps))
    assert realized == pytest.approx(validation, abs=0.015)
    assert 1 - _good(apps).mean() == pytest.approx(0.30, abs=0.01)


def test_expected_auc_matches_the_sample_auc_of_many_draws() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(50), 1)  # ties on purpose
    p_bad = rng.random(50)
    idx = rng.integers(0, 50, size=200_000)
    outcomes = (rng.random(200_000) >= p_bad[idx]).astype(float)
    sample = h.sample_auc(scores[idx], outcomes)
    assert sample == pytest.approx(h.expected_auc(scores, p_bad), abs=0.005)


def _drift(frame: pd.DataFrame, model: Any) -> Any:
    from creditwatch_drift.analysis import analyse
    from creditwatch_drift.service import load_reference

    current = frame.copy()
    scores = model.score(frame.to_dict("records"))
    current["probability_good_credit"] = [s.probability_good_credit for s in scores]
    current["decision"] = [s.decision for s in scores]
    return analyse(current, load_reference(model), model, 0.3, [])


def _max_feature_psi(frame: pd.DataFrame, model: Any) -> float:
    from creditwatch_drift.stability import column_stability, load_stability_bins

    bins = load_stability_bins()
    assert bins is not None
    return max(
        column_stability(bins.features[f.name], frame[f.name], bins.floor).psi or 0.0
        for f in model.schema.features
        if f.name in bins.features
    )


def test_concept_drift_keeps_the_inputs_but_realized_auc_falls_far(model: Any, world: h.World) -> None:
    plan = h.HistoryPlan("concept-drift", days=60, per_day=200, change_days_ago=30, seed=5)
    apps = h.generate(plan, world, END)
    before = [a for a in apps if not a.changed]
    after = [a for a in apps if a.changed]
    assert len(after) == 30 * 200
    validation = model.metadata["metrics"]["holdout"]["roc_auc"]
    assert h.sample_auc(_scores(model, before), _good(before)) == pytest.approx(validation, abs=0.02)
    assert h.sample_auc(_scores(model, after), _good(after)) < validation - 0.15
    # The inputs of a week after the change look like the training data to the drift job.
    week = _frame(after[-1400:])
    assert _max_feature_psi(week, model) < 0.1
    assert _drift(week, model).dataset_drift is False


def test_covariate_shift_moves_the_inputs_and_keeps_the_truth(model: Any, world: h.World) -> None:
    plan = h.HistoryPlan("covariate-shift", days=20, per_day=200, change_days_ago=10, seed=5)
    apps = h.generate(plan, world, END)
    after = [a for a in apps if a.changed]
    week = _frame(after[-1400:])
    assert _max_feature_psi(week, model) > 0.25
    assert _drift(week, model).dataset_drift is True
    # The truth is the stable one: the same applicant has the same P(bad) before and after.
    probe = after[0].features
    assert world.truth.bad_probability([probe])[0] == pytest.approx(after[0].p_bad)


def test_the_estimate_misses_concept_drift_and_follows_covariate_shift(model: Any, world: h.World) -> None:
    from creditwatch_model import model_dir
    from creditwatch_model.calibration import Calibration
    from creditwatch_model.estimate import estimate_quality

    calibration = Calibration.load(model_dir())

    def figures(apps: list[h.Simulated]) -> tuple[float, float]:
        scores = _scores(model, apps)
        estimated = estimate_quality(scores, calibration, model.threshold, n_boot=20)["auc"]["value"]
        realized = h.sample_auc(scores, _good(apps))
        assert realized is not None and estimated is not None
        return realized, estimated

    validation = model.metadata["metrics"]["holdout"]["roc_auc"]
    concept = h.generate(h.HistoryPlan("concept-drift", days=40, per_day=200, change_days_ago=20), world, END)
    realized, estimated = figures([a for a in concept if a.changed])
    assert estimated == pytest.approx(validation, abs=0.03) and realized < estimated - 0.15
    realized, estimated = figures([a for a in concept if not a.changed])
    assert estimated == pytest.approx(realized, abs=0.03)
    shifted = h.generate(h.HistoryPlan("covariate-shift", days=40, per_day=200, change_days_ago=20), world, END)
    realized, estimated = figures([a for a in shifted if a.changed])
    # Both fall below validation, and the estimate stays within a few points of what outcomes show.
    assert realized < validation - 0.01 and estimated < validation - 0.03
    assert estimated == pytest.approx(realized, abs=0.05)


def test_outcomes_are_posted_only_once_observed_and_only_for_covered_loans(world: h.World) -> None:
    plan = h.HistoryPlan("stable", days=90, per_day=40, coverage=0.8, delay_days=(30, 60))
    apps = h.generate(plan, world, END)
    now = END + timedelta(hours=6)
    due = h.due_outcomes(apps, now)
    by_id = {a.prediction_id: a for a in apps}
    now_ms = int(now.timestamp() * 1000)
    for item in due:
        app = by_id[item["prediction_id"]]
        observed = datetime.fromisoformat(item["observed_at"].replace("Z", "+00:00"))
        assert app.reported and observed <= now
        assert 30 * DAY_MS <= int(observed.timestamp() * 1000) - app.at_ms <= 60 * DAY_MS
        assert item["outcome"] == app.outcome
    assert {a.prediction_id for a in apps if a.at_ms > now_ms - 30 * DAY_MS}.isdisjoint(i["prediction_id"] for i in due)
    # The coverage is of booked loans (the default: approved applicants only have outcomes).
    old = [a for a in apps if a.at_ms < now_ms - 60 * DAY_MS and a.approved]
    old_due = {i["prediction_id"] for i in due} & {a.prediction_id for a in old}
    assert len(old_due) / len(old) == pytest.approx(0.8, abs=0.05)


def test_outcomes_exist_for_approved_applicants_only_by_default_and_for_everyone_with_outcomes_all(
    world: h.World,
) -> None:
    plan = h.HistoryPlan("concept-drift", days=30, per_day=40, coverage=0.9)
    booked, everyone = h.generate(plan, world, END), h.generate(dataclasses.replace(plan, outcomes="all"), world, END)
    assert plan.outcomes == "approved"
    # A refused applicant gets no loan: no repayment to observe, so never an outcome.
    assert all(a.approved for a in booked if a.reported)
    assert {a.approved for a in booked} == {True, False}
    # Everyone's outcomes (bureau data) include the refused; the same seed draws the same history, so the
    # approved-only outcomes are exactly the approved part of everyone's.
    assert sum(a.reported and not a.approved for a in everyone) > 0.8 * sum(not a.approved for a in everyone)
    assert [a.prediction_id for a in booked if a.reported] == [
        a.prediction_id for a in everyone if a.reported and a.approved
    ]
    assert [dataclasses.replace(a, reported=False) for a in booked] == [
        dataclasses.replace(a, reported=False) for a in everyone
    ]
    # And only their observed outcomes are posted.
    due = h.due_outcomes(booked, END + timedelta(days=90))
    assert {i["prediction_id"] for i in due} == {a.prediction_id for a in booked if a.reported}


def test_history_is_written_only_to_a_stack_on_this_machine() -> None:
    h.require_local("http://127.0.0.1:5000")
    h.require_local("http://localhost:4566")
    with pytest.raises(ValueError, match="only to a local stack"):
        h.require_local("https://dynamodb.eu-west-1.amazonaws.com")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["history", "30"], "simulate history needs --scenario stable|concept-drift|covariate-shift"),
        (["history", "30", "--scenario", "drift"], "drift is not a history scenario"),
        (["history", "0", "--scenario", "stable"], "1 to 365 days"),
        (["history", "30", "--scenario", "stable", "--change-days-ago", "3"], "stable changes nothing"),
        (["history", "30", "--scenario", "stable", "--outcome-delay-days", "soon"], "MIN..MAX"),
        (["history", "30", "--scenario", "stable", "--outcomes", "declined"], "--outcomes is approved or all"),
        (["traffic", "--scenario", "concept-drift"], "simulate history DAYS --scenario concept-drift"),
    ],
)
def test_simulate_history_refuses_bad_combinations_in_one_line(args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from creditwatch.cli import app

    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
