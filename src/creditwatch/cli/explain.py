"""`explain`: a decision with its reasons as a table, scored here from an event or rebuilt from the log."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render


def _application(event: str) -> dict[str, Any]:
    """The one application of an event file (an API event or a bare body), or a one-line usage error."""
    from creditwatch.events import EventError, read_event

    try:
        payload = read_event(event)
    except EventError as exc:
        common.fail(str(exc), errors.USAGE)
    body = payload
    if isinstance(payload, dict) and isinstance(payload.get("body"), str):
        try:
            body = json.loads(payload["body"])
        except ValueError as exc:
            common.fail(f"the body of {event} is not JSON: {exc}", errors.USAGE)
    if isinstance(body, dict) and isinstance(body.get("applications"), list):
        common.fail(
            f"{event} is a batch of {len(body['applications'])} applications: explain takes one "
            "(an events/predict-valid.json-like event, or one application's JSON)",
            errors.USAGE,
        )
    if not isinstance(body, dict):
        common.fail(f"{event} holds no application (a JSON object of the application's fields)", errors.USAGE)
    return body


def explain(
    event: Annotated[
        str | None, typer.Option("--event", "-e", help="An API event (events/predict-*.json) or an application's JSON")
    ] = None,
    prediction_id: Annotated[
        str | None, typer.Option("--prediction-id", help="Rebuild a logged decision's reasons from the local log")
    ] = None,
    counterfactual: Annotated[bool, typer.Option(help="For a refusal, also the smallest approved change")] = False,
) -> None:
    """Print a decision with its reasons as a table: scored here from an event, or rebuilt from the log."""
    from pydantic import ValidationError

    from creditwatch_model import load_model
    from creditwatch_model.counterfactual import counterfactual as search
    from creditwatch_model.explain import reasons_from_record
    from creditwatch_predict.schemas import build_application_model
    from creditwatch_predict.service import score_applications

    if (event is None) == (prediction_id is None):
        common.fail("give --event FILE or --prediction-id ID (one of them)", errors.USAGE)
    if prediction_id is not None:
        try:
            uuid.UUID(prediction_id)
        except ValueError:
            common.fail(f"{prediction_id} is not a prediction id (a UUID, as /predict answers)", errors.USAGE)
    model = load_model()
    if prediction_id is not None:
        record = common.prediction_log().get(prediction_id)
        if record is None or not record.contributions or not record.features:
            common.fail(f"no explained record {prediction_id}")
        row, reasons = record.features, reasons_from_record(model.schema, record.model_dump())
        decision, p_good = str(record.decision), float(record.probability_good_credit or 0.0)
        title = f"{prediction_id}: logged by model {record.model_version} at {record.ts}"
    else:
        assert event is not None
        body = _application(event)
        try:
            row = build_application_model(model.schema).model_validate(body).model_dump()
        except ValidationError as exc:
            common.fail(f"not a valid application: {common.plain_errors(exc.errors())}", errors.USAGE)
        (scored,) = score_applications(model, [row], explain=True)
        reasons = scored.reasons or []
        decision, p_good = scored.score.decision, scored.score.probability_good_credit
        title = f"{event}: model {model.version}"
    found = search(model, row) if counterfactual else None
    render.explanation(title, decision, p_good, model.threshold, reasons, found)
