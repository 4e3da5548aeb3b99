"""creditwatch.labelled_history.live: the world's applicants now, outcomes for the loans the answers booked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from creditwatch.labelled_history import build_world
from creditwatch.labelled_history.live import send_live
from creditwatch_model import load_model


@pytest.fixture(scope="module")
def world() -> Any:
    return build_world(load_model())


class Api:
    """/predict-batch answered by the layer's model (approve at its threshold); /outcomes recorded."""

    def __init__(self, model: Any) -> None:
        self.model, self.posted, self.sent, self.next_id = model, [], 0, 0

    def call(self, route: str, body: str) -> tuple[int, float, dict[str, Any]]:
        apps = json.loads(body)["applications"]
        p = self.model.predict_good(apps)
        answers = []
        for prob in p:
            self.next_id += 1
            decision = "approve" if prob >= self.model.threshold else "refuse"
            answers.append({"prediction_id": f"p{self.next_id}", "decision": decision, "model_version": "v1"})
        self.sent += len(apps)
        return 200, 1.0, {"predictions": answers}

    def post(self, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        self.posted.extend(items)
        return 200, {"counts": {"recorded": len(items)}}


def test_only_the_loans_the_answers_booked_get_an_outcome_and_every_one_is_observed_now(world: Any) -> None:
    api = Api(world.model)
    result = send_live(world, api.call, api.post, applications=600, seed=1, coverage=1.0)
    assert result.sent == api.sent == 600
    assert result.outcomes_posted == len(api.posted) == result.decisions["approve"] > 0
    assert {i["observed_at"] for i in api.posted} and all(i["outcome"] in ("good", "bad") for i in api.posted)


def test_traffic_goes_on_in_batches_until_the_outcomes_asked_for_are_posted(world: Any) -> None:
    api = Api(world.model)
    result = send_live(world, api.call, api.post, applications=100, seed=1, min_outcomes=150, batch=100)
    assert result.outcomes_posted >= 150 and result.sent > 100 and result.sent % 100 == 0
    capped = send_live(
        world,
        Api(world.model).call,
        api.post,
        applications=100,
        seed=1,
        min_outcomes=10**6,
        max_applications=300,
        batch=100,
    )
    assert capped.sent == 300


def test_the_same_seed_draws_the_same_applicants_and_repayments(world: Any) -> None:
    first, second = Api(world.model), Api(world.model)
    send_live(world, first.call, first.post, applications=300, seed=7)
    send_live(world, second.call, second.post, applications=300, seed=7)
    assert first.posted and [i["outcome"] for i in first.posted] == [i["outcome"] for i in second.posted]


def test_the_changed_world_makes_the_champions_booked_loans_go_bad_more_often(world: Any) -> None:
    before, after = Api(world.model), Api(world.model)
    stable = send_live(world, before.call, before.post, applications=3000, seed=3, changed=False)
    changed = send_live(world, after.call, after.post, applications=3000, seed=3, changed=True)
    assert changed.bad_booked / changed.outcomes_posted > stable.bad_booked / stable.outcomes_posted + 0.08
