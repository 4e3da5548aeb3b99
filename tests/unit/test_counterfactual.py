"""The counterfactual search by leaf sums: the same answer as scoring every candidate, within the default bounds."""

import itertools
import math
from typing import Any

import numpy as np
import pytest

from creditwatch_analytics.training import load_data

# The clock never binds in these tests: only the candidate budget does, so every result is deterministic.
NO_CLOCK = {"time_budget_ms": 600_000.0}
UNBOUNDED = {"time_budget_ms": 600_000.0, "max_candidates": 10**9}


@pytest.fixture(scope="module")
def refused(model) -> list[dict[str, Any]]:
    """The first 120 refusals of the German Credit data, in the data's order."""
    rows = load_data()[model.schema.names].to_dict("records")
    p = model.predict_good(rows)
    return [r for r, q in zip(rows, p, strict=True) if q < model.threshold][:120]


@pytest.fixture(scope="module")
def searched(model, refused) -> list[tuple[Any, Any]]:
    """Each refusal's search at the default candidate budget, and unbounded."""
    from creditwatch_model.counterfactual import counterfactual

    return [(counterfactual(model, r, **NO_CLOCK), counterfactual(model, r, **UNBOUNDED)) for r in refused]


def smallest_by_scoring_every_candidate(model, row) -> tuple[dict[str, Any], float] | None:
    """The oracle: every candidate of each size scored by the forest, the smallest approved one kept."""
    from creditwatch_model.counterfactual import DEFAULT_LEVERS, _moves
    from creditwatch_model.leaf_boxes import leaf_boxes

    moves = _moves(model, leaf_boxes(model), row, DEFAULT_LEVERS, 0.5)
    base = model.encode([row])[0]
    for k in range(1, 4):
        best = None
        for c, combo in enumerate(itertools.combinations(range(len(moves)), k)):
            grids = np.meshgrid(*[np.arange(len(moves[i].values)) for i in combo], indexing="ij")
            idx = np.stack([g.ravel() for g in grids], axis=1)
            p = model.forest.predict_good(base + sum(moves[i].delta[idx[:, j]] for j, i in enumerate(combo)))
            for n in np.flatnonzero(p >= model.threshold).tolist():
                key = (sum(moves[i].distance[idx[n, j]] for j, i in enumerate(combo)), c, tuple(idx[n].tolist()))
                if best is None or key < best[0]:
                    change = {moves[i].lever.feature: moves[i].values[idx[n, j]] for j, i in enumerate(combo)}
                    best = (key, change, float(p[n]))
        if best is not None:
            return best[1], best[2]
    return None


def test_the_search_finds_the_counterfactual_that_scoring_every_candidate_finds(model, refused, searched):
    for row, (_, unbounded) in list(zip(refused, searched, strict=True))[:12]:
        oracle = smallest_by_scoring_every_candidate(model, row)
        if oracle is None:
            assert unbounded.status == "none_found" and unbounded.stopped_by == ""
            continue
        assert unbounded.status == "found"
        assert {c.feature: c.to_value for c in unbounded.changes} == oracle[0]
        assert unbounded.probability_good_credit == oracle[1]


def test_the_default_candidate_budget_finds_at_least_95_percent_of_the_counterfactuals_that_exist(searched):
    exist = [unbounded for _, unbounded in searched if unbounded.status == "found"]
    found = [default for default, unbounded in searched if default.status == "found"]
    assert len(exist) >= 60  # the data's refusals do have counterfactuals: the share below means something
    assert len(found) >= math.ceil(0.95 * len(exist))
    for default, unbounded in searched:
        assert default.candidates_scored <= 10_000
        if default.status == "found":
            assert default.changes == unbounded.changes and default.row == unbounded.row


def test_no_counterfactual_changes_a_protected_attribute_or_anything_but_a_lever(model, refused, searched):
    from creditwatch_model.counterfactual import DEFAULT_LEVERS, PROTECTED

    levers = {lever.feature for lever in DEFAULT_LEVERS}
    found = [(row, default) for row, (default, _) in zip(refused, searched, strict=True) if default.status == "found"]
    assert found
    for row, cf in found:
        changed = {name for name in model.schema.names if cf.row[name] != row[name]}
        assert changed == {c.feature for c in cf.changes} and changed <= levers
        assert all(cf.row[name] == row[name] for name in PROTECTED)


def test_the_search_gives_the_same_answers_on_a_freshly_loaded_model(model, refused, searched):
    from creditwatch_model import load_model
    from creditwatch_model.counterfactual import counterfactual

    fresh = load_model.__wrapped__()  # past the cache: its own forest, whose leaf boxes are built anew
    assert fresh.forest is not model.forest
    again = [counterfactual(fresh, r, **NO_CLOCK) for r in refused[:30]]
    assert again == [default for default, _ in searched[:30]]


def test_a_zero_time_budget_stops_the_search_and_says_so(model, refused, searched):
    from creditwatch_model.counterfactual import counterfactual

    row = next(r for r, (default, _) in zip(refused, searched, strict=True) if default.status == "found")
    stopped = counterfactual(model, row, time_budget_ms=0.0)
    assert stopped.status == "none_found" and stopped.stopped_by == "time_budget"
    assert stopped.message == "none found within bounds (stopped by the time budget)"
