"""Events for `creditwatch invoke`: read from a file or stdin, checked for shape, bare bodies wrapped."""

from __future__ import annotations

import copy
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from creditwatch.paths import EVENTS

HTTP_FUNCTIONS = ("PredictFunction",)  # functions behind the HTTP API: their event is API Gateway's


class EventError(Exception):
    """The event cannot be read, or is not what the function takes."""


def read_event(source: str | None) -> Any:
    """The event of `-e`: a file, or stdin for `-`; never a silent wait on a terminal."""
    if source is None:
        raise EventError(
            "no event: give one with -e FILE (e.g. -e events/predict-valid.json), or -e - to read it from stdin"
        )
    if source == "-":
        raw, where = sys.stdin.read(), "stdin"
    else:
        path = Path(source)
        if not path.is_file():
            raise EventError(_missing(path))
        raw, where = path.read_text(), str(path)
    if not raw.strip():
        raise EventError(f"the event on {where} is empty: an event is a JSON document (see events/)")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise EventError(f"the event on {where} is not JSON: {exc}") from None


def _missing(path: Path) -> str:
    if path.is_dir():
        return f"{path} is a folder: give one event file of it, e.g. -e events/predict-valid.json"
    known = sorted(p.name for p in EVENTS.glob("*.json"))
    close = difflib.get_close_matches(path.name, known, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join('events/' + c for c in close)}?" if close else "events/ holds examples"
    return f"no event file {path}: {hint}"


def _feature_names() -> set[str]:
    from creditwatch_model import METADATA_FILE, model_dir

    meta = json.loads((model_dir() / METADATA_FILE).read_text())
    names: set[str] = set()
    for f in meta["feature_schema"]["features"]:
        names.update(n for n in (f["name"], f.get("alias")) if n)
    return names


def is_api_event(payload: Any) -> bool:
    """True for an API Gateway event (HTTP API v2 or REST v1)."""
    return isinstance(payload, dict) and ("requestContext" in payload or "httpMethod" in payload)


def bare_body_kind(payload: Any) -> str | None:
    """'application' or 'batch' when the payload is a request body rather than an event, else None."""
    if is_api_event(payload):
        return None
    if isinstance(payload, list) or (isinstance(payload, dict) and "applications" in payload):
        return "batch"
    if isinstance(payload, dict) and payload and set(payload) & _feature_names():
        return "application"
    return None


def shape_problem(logical_id: str, payload: Any) -> str | None:
    """Why the function cannot take this event, with the way out; None when the shape is right."""
    if logical_id not in HTTP_FUNCTIONS or is_api_event(payload):
        return None
    kind = bare_body_kind(payload)
    if kind:
        return (
            f"the event is a bare {kind} body, not an API Gateway event: add --body to wrap it "
            f"(creditwatch invoke {logical_id} --body -e FILE), or start from events/predict-valid.json"
        )
    return (
        f"{logical_id} takes an API Gateway HTTP API event (with requestContext), as in events/predict-valid.json; "
        "for a request body alone add --body"
    )


def wrap_body(payload: Any) -> dict[str, Any]:
    """An API Gateway event POSTing the body to /predict (an application) or /predict-batch (a batch)."""
    from creditwatch_common.ids import uuid7

    if is_api_event(payload):
        raise EventError("--body wraps a request body, and this event is already an API Gateway event: drop --body")
    if isinstance(payload, list):
        payload = {"applications": payload}
    route = "/predict-batch" if isinstance(payload, dict) and "applications" in payload else "/predict"
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / "predict-valid.json").read_text()))
    event["rawPath"] = event["requestContext"]["http"]["path"] = route
    # Time-ordered, so that `creditwatch log get <request id>` can find the request's records.
    event["requestContext"]["requestId"] = uuid7()
    event["body"] = json.dumps(payload)
    event["isBase64Encoded"] = False
    return event
