"""Calls to the predict function's handler (the `handler` fixture of conftest.py) and what they logged."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_context import LambdaContext as Ctx

from creditwatch_common.records import FullRow


def call(handler: Any, event: dict[str, Any]) -> tuple[int, Any, dict[str, Any]]:
    """Status, parsed body (None when empty) and the raw response of one event."""
    resp = handler.handler(event, Ctx())
    return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None, resp


def logged(prediction_log: Any) -> list[dict[str, Any]]:
    """Every record the log holds from the last two minutes, as dicts."""
    now = datetime.now(UTC)
    window = prediction_log.query_window(now - timedelta(minutes=2), now + timedelta(minutes=2), FullRow)
    return [r.model_dump() for r in window]
