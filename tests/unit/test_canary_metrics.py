"""What the canary's alarms read from the predict function: per-version metrics, score quintiles, synthetic traffic."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from predict_calls import call

from creditwatch_common.aws import AwsClients
from creditwatch_model import ARTIFACTS_DIR
from creditwatch_predict.canary import ScoreBins


def _emf(capsys: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]


def _total(value: Any) -> float:
    """An EMF value: a number, or the list of one blob's values."""
    return float(sum(value)) if isinstance(value, list) else float(value)


def test_the_frozen_quintiles_hold_a_fifth_of_the_reference_each_as_the_psi_alarm_assumes(model: Any) -> None:
    bins = ScoreBins.load(ARTIFACTS_DIR, model.version)
    assert bins is not None and len(bins.edges) == 4
    reference = pd.read_csv(ARTIFACTS_DIR / "reference.csv")["probability_good_credit"]
    counts = bins.counts(reference.tolist())
    assert [round(c / len(reference), 2) for c in counts] == [0.2] * 5
    assert ScoreBins.load(ARTIFACTS_DIR, "another-version") is None


def test_a_batch_is_counted_into_the_quintiles_as_its_applications_one_by_one(model: Any) -> None:
    bins = ScoreBins.load(ARTIFACTS_DIR, model.version)
    assert bins is not None
    # Values on each edge (right-closed: in the lower bin), just beside it, and beyond both ends.
    values = [*bins.edges, *(e + 1e-12 for e in bins.edges), *(e - 1e-12 for e in bins.edges), 0.0, 1.0]
    values = values * 3
    assert bins.counts(values) == [sum(bins.counts([v])[i] for v in values) for i in range(5)]


def _predict_service(aws: Any, prediction_log: Any, model: Any) -> Any:
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings().model_copy(
        update={"spill_queue_url": prediction_log.spill_queue_url, "function_version": "7"}
    )
    return build(settings, AwsClients(), model=model)


def test_every_metric_is_also_published_by_function_version_with_its_score_quintile(
    aws: Any, prediction_log: Any, model: Any, event: Any, capsys: Any
) -> None:
    service = _predict_service(aws, prediction_log, model)
    capsys.readouterr()
    status, body, _ = call(service, event("predict-valid.json"))
    assert status == 200
    (blob,) = [b for b in _emf(capsys) if "Requests" in b]
    (spec,) = blob["_aws"]["CloudWatchMetrics"]
    # The first set is the one every older alarm and the dashboard read, unchanged.
    assert [sorted(d) for d in spec["Dimensions"]] == [
        ["environment", "service"],
        ["environment", "function_version", "service"],
    ]
    assert blob["function_version"] == "7" and _total(blob["Predictions"]) == 1
    quintile = ScoreBins.load(ARTIFACTS_DIR, model.version).counts([body["probability_good_credit"]]).index(1)  # type: ignore[union-attr]
    assert _total(blob[f"ScoreBin{quintile + 1}"]) == 1
    assert not any(f"ScoreBin{i}" in blob for i in range(1, 6) if i != quintile + 1)


def test_a_synthetic_request_is_answered_and_logged_as_any_other_but_counts_in_no_model_metric(
    aws: Any, prediction_log: Any, model: Any, event: Any, capsys: Any
) -> None:
    service = _predict_service(aws, prediction_log, model)
    marked = event("predict-valid.json")
    marked["headers"]["x-creditwatch-synthetic"] = "probe"
    capsys.readouterr()
    status, body, _ = call(service, marked)
    assert status == 200 and body["decision"] in ("approve", "refuse")
    (blob,) = [b for b in _emf(capsys) if "Requests" in b]
    assert _total(blob["Requests"]) == 1 and "Predictions" not in blob and "Approved" not in blob
    record = prediction_log.get(body["prediction_id"])
    assert record is not None and record.synthetic == "probe"
