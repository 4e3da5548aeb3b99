"""Shadow scoring: a challenger scores every application for the log; the answer stays the champion's."""

import copy
import json
import re

import numpy as np
import pytest
from challengers import challenger_of
from predict_calls import call, logged

from creditwatch_common.aws import AwsClients
from creditwatch_model.paths import path_attribution
from creditwatch_predict.app import build
from creditwatch_predict.service import ScoredApplication, score_applications
from creditwatch_predict.settings import PredictSettings
from creditwatch_predict.shadow import CHUNK_ROWS, ShadowScorer

# Ids and times differ between two calls; everything else of an answer must not.
_VOLATILE = re.compile(
    r'"(prediction_id|timestamp)":"[^"]*"'.replace(":", r"\s*:\s*"),
)


def _fixed(body: str) -> str:
    return _VOLATILE.sub(lambda m: f'"{m.group(1)}":"-"', body)


@pytest.fixture(scope="module")
def applications():
    """Forty applicants of the data set, approved and refused ones among them."""
    from creditwatch_analytics.training import load_data
    from creditwatch_model import load_model

    names = load_model().schema.names
    return load_data()[names].iloc[:40].to_dict("records")


def _batch_event(event, applications, explain):
    ev = copy.deepcopy(event("predict-batch-valid.json"))
    ev["body"] = json.dumps({"applications": applications, "explain": explain})
    return ev


def _service(prediction_log, model, challenger, **settings):
    config = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url, **settings})
    return build(config, AwsClients(), model=model, challenger=challenger)


def _metric(out: str, name: str) -> list[float]:
    values = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            if name in blob:
                values.append(blob[name] if not isinstance(blob[name], list) else sum(blob[name]))
    return values


def test_the_path_attribution_scores_as_the_forest_and_adds_up_to_the_score(model, applications):
    paths = path_attribution(model)
    x = model.encode(applications)
    p, phi = paths.walk(x)
    assert p.tolist() == model.predict_good(applications).tolist()
    np.testing.assert_allclose(phi.sum(axis=1) + paths.base_value, p, atol=1e-12)


def test_a_row_attributed_alone_gets_what_it_gets_among_a_batch(model, applications):
    # Alone, a row's leaves are found node by node at once; in a batch, level by level.
    paths = path_attribution(model)
    x = model.encode(applications)
    p, phi = paths.walk(x)
    alone = [paths.walk(x[i : i + 1]) for i in range(len(applications))]
    assert [a[0][0] for a in alone] == p.tolist()
    assert np.array_equal(np.concatenate([a[1] for a in alone]), phi)


@pytest.mark.parametrize("case", ["single", "batch", "batch explained"])
def test_the_answer_with_a_challenger_is_the_champions_byte_for_byte(
    handler, prediction_log, model, event, applications, case
):
    shadowed = _service(prediction_log, model, challenger_of(model))
    ev = event("predict-valid.json") if case == "single" else _batch_event(event, applications, case != "batch")
    _, _, plain = call(handler, copy.deepcopy(ev))
    _, _, with_challenger = call(shadowed, copy.deepcopy(ev))
    assert plain["statusCode"] == with_challenger["statusCode"] == 200
    assert _fixed(with_challenger["body"]) == _fixed(plain["body"])
    assert '"prediction_id":"-"' in _fixed(plain["body"])  # the ids were there, and only they were replaced


@pytest.mark.parametrize("explain", [True, False], ids=["explained", "not explained"])
def test_each_record_carries_the_challengers_answer_and_its_first_reason_where_explained(
    prediction_log, model, event, applications, explain
):
    challenger = challenger_of(model)
    shadowed = _service(prediction_log, model, challenger)
    status, body, _ = call(shadowed, _batch_event(event, applications, explain))
    assert status == 200
    records = {r["prediction_id"]: r for r in logged(prediction_log) if r["kind"] == "application"}
    assert len(records) == len(applications)
    expected_p = challenger.predict_good(applications)
    paths = path_attribution(challenger)
    reasons = paths.first_reasons(paths.walk(challenger.encode(applications))[1])
    decisions = set()
    for i, answer in enumerate(body["predictions"]):
        record = records[answer["prediction_id"]]
        assert record["challenger_version"] == challenger.version
        assert record["challenger_probability_good_credit"] == expected_p[i]
        refused = expected_p[i] < challenger.threshold
        assert record["challenger_decision"] == ("refuse" if refused else "approve")
        assert record["challenger_first_reason"] == (reasons[i] if explain and refused else None)
        assert record["probability_good_credit"] == answer["probability_good_credit"]
        decisions.add(record["challenger_decision"])
    assert decisions == {"approve", "refuse"}


def test_a_single_predictions_record_carries_the_challengers_answer(prediction_log, model, event):
    challenger = challenger_of(model, power=3.0)  # lower P(good): this applicant is refused by it
    status, body, _ = call(_service(prediction_log, model, challenger), event("predict-valid.json"))
    record = prediction_log.get(body["prediction_id"]).model_dump()
    features = record["features"]
    assert status == 200 and record["challenger_version"] == challenger.version
    assert record["challenger_probability_good_credit"] == challenger.predict_good([features])[0]
    assert record["challenger_decision"] == "refuse" and record["challenger_first_reason"] in model.schema.names


@pytest.mark.parametrize("fault", ["cannot score", "cannot be prepared"])
def test_a_failing_challenger_is_counted_and_never_changes_the_answer(
    handler, prediction_log, model, event, capsys, caplog, fault
):
    if fault == "cannot score":
        # Its schema asks for a feature no application has: encoding raises for real.
        schema = copy.deepcopy(model.metadata["feature_schema"])
        extra = copy.deepcopy(schema["features"][0])
        extra.update(name="income_of_the_moon", alias="Income of the moon")
        schema["features"].append(extra)
        challenger = challenger_of(model, feature_schema=schema)
    else:
        challenger = challenger_of(model)
        challenger._cover = None  # loaded without explain.npz: nothing to attribute with
    shadowed = _service(prediction_log, model, challenger)
    _, _, plain = call(handler, event("predict-valid.json"))
    status, body, with_challenger = call(shadowed, event("predict-valid.json"))
    assert status == 200 and _fixed(with_challenger["body"]) == _fixed(plain["body"])
    record = prediction_log.get(body["prediction_id"]).model_dump()
    assert record["challenger_version"] == challenger.version
    assert record["challenger_probability_good_credit"] is None and record["challenger_decision"] is None
    out = capsys.readouterr().out
    assert _metric(out, "ShadowFailures") == [1]  # the champion-only handler emits none
    assert "shadow challenger missed applications" in caplog.text


def test_a_challenger_over_its_budget_is_paused_and_its_misses_are_counted(prediction_log, model, event, capsys):
    shadowed = _service(prediction_log, model, challenger_of(model), shadow_budget_ms=0.001, shadow_pause_s=600)
    _, first, _ = call(shadowed, event("predict-valid.json"))
    _, second, _ = call(shadowed, event("predict-valid.json"))
    scored = prediction_log.get(first["prediction_id"]).model_dump()
    paused = prediction_log.get(second["prediction_id"]).model_dump()
    # The first request's single chunk always runs (a request waits at most the budget plus one chunk).
    assert scored["challenger_probability_good_credit"] is not None
    assert paused["challenger_version"] == "challenger-1" and paused["challenger_probability_good_credit"] is None
    assert first["probability_good_credit"] == second["probability_good_credit"]
    assert _metric(capsys.readouterr().out, "ShadowFailures") == [0, 1]


def test_a_batch_stops_at_the_chunk_where_the_budget_runs_out(model, applications):
    ticks = iter(range(1000))
    shadow = ShadowScorer(challenger_of(model), budget_s=1.5, pause_s=60, clock=lambda: float(next(ticks)))
    scored = score_applications(model, applications * 16)  # 640 applications: 3 chunks
    miss = shadow.score(scored)
    done = [s for s in scored if s.challenger is not None]
    # Started at 0; the 2nd chunk starts at 1 (within 1.5 s), the 3rd would start at 2: not scored.
    assert len(done) == 2 * CHUNK_ROWS and miss is not None and miss.applications == len(scored) - 2 * CHUNK_ROWS
    assert shadow.score(scored[:1]) is not None  # paused after a request over its budget
    assert all(isinstance(s, ScoredApplication) for s in scored)


def test_a_challenger_equal_to_the_champion_shadows_nothing(prediction_log, model):
    assert _service(prediction_log, model, challenger_of(model, version=model.version)).shadow.current() is None


def test_the_lake_row_carries_the_challengers_answer_and_the_champions_first_reason(prediction_log, model, event):
    from creditwatch_analytics.lake.schema import LakeSchema
    from creditwatch_common.records import ExportRow

    challenger = challenger_of(model, power=3.0)
    _, body, _ = call(_service(prediction_log, model, challenger), event("predict-valid.json"))
    (row,) = [
        r
        for r in prediction_log.query_window(*_minutes(2), ExportRow)
        if r.values["prediction_id"] == body["prediction_id"]
    ]
    table = LakeSchema.of(model.schema.features).table([row.values]).to_pylist()[0]
    record = prediction_log.get(body["prediction_id"]).model_dump()
    assert table["first_reason"] == body["reasons"][0]["feature"]
    for name in ("challenger_version", "challenger_probability_good_credit", "challenger_decision"):
        assert table[name] == record[name] is not None
    assert table["challenger_first_reason"] == record["challenger_first_reason"]


def _minutes(n):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return now - timedelta(minutes=n), now + timedelta(minutes=n)
