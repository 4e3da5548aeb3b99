"""Replays the frozen applications through a version of the predict function, as API Gateway would call it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from creditwatch_common.records import SYNTHETIC_HEADER

GATE_MARK = "deploy-gate"
ROUTE = "/predict-batch"


class ReplayFailed(RuntimeError):
    """The version did not answer, raised, or answered something other than a 200 batch answer."""


def batch_event(applications: Sequence[dict[str, Any]], request_id: str) -> dict[str, Any]:
    """An HTTP API (payload 2.0) POST /predict-batch event, marked synthetic so no window counts it."""
    now_ms = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": ROUTE,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", SYNTHETIC_HEADER: GATE_MARK, "user-agent": "creditwatch-gate"},
        "requestContext": {
            "http": {
                "method": "POST",
                "path": ROUTE,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "creditwatch-gate",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": False,
        "body": json.dumps({"applications": list(applications)}),
    }


# (event) -> the handler's result (API Gateway's proxy answer): a Lambda Invoke, or the local handler.
Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Replayer:
    """Sends the replay set in batches and gathers the answers, in order."""

    invoke: Invoke
    batch_size: int = 100
    # Seconds left to the caller's own deadline, and what one batch may take: never start one that
    # could outlive the hook (a hook killed by its timeout reports nothing).
    time_left: Callable[[], float] = lambda: float("inf")
    batch_budget_s: float = 0.0

    def answers(self, applications: Sequence[dict[str, Any]], what: str, request_id: str) -> list[Any]:
        """Every application's answer object; ReplayFailed (one line) on the first batch that fails."""
        out: list[Any] = []
        for start in range(0, len(applications), self.batch_size):
            if self.time_left() < self.batch_budget_s:
                raise ReplayFailed(
                    f"out of time: {what} had answered {start} of {len(applications)} replayed applications"
                )
            chunk = applications[start : start + self.batch_size]
            result = self.invoke(batch_event(chunk, f"{request_id}-{start // self.batch_size}"))
            status = result.get("statusCode")
            if status != 200:
                detail = str(result.get("body") or "")[:200]
                raise ReplayFailed(f"{what} answered HTTP {status} to the replay set: {detail}")
            try:
                body = json.loads(result.get("body") or "")
                predictions = body["predictions"]
            except (ValueError, KeyError, TypeError):
                raise ReplayFailed(f"{what} answered a body that is not a batch answer") from None
            out.extend(predictions)
        return out


def lambda_invoke(client: Any, function: str, version: str) -> Invoke:
    """Invoke one published version of a function synchronously; its errors as ReplayFailed."""
    from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = client.invoke(FunctionName=function, Qualifier=version, Payload=json.dumps(event).encode())
        except ReadTimeoutError:
            raise ReplayFailed(f"version {version} did not answer within the hook's read timeout") from None
        except (BotoCoreError, ClientError) as exc:
            raise ReplayFailed(f"version {version} could not be invoked: {exc}") from None
        payload = resp["Payload"].read()
        if resp.get("FunctionError"):
            try:
                error = json.loads(payload).get("errorMessage", "")
            except ValueError:
                error = payload[:200].decode("utf-8", "replace")
            raise ReplayFailed(f"version {version} raised {resp['FunctionError']}: {str(error)[:200]}")
        try:
            answer: dict[str, Any] = json.loads(payload)
        except ValueError:
            raise ReplayFailed(f"version {version} returned a payload that is not JSON") from None
        return answer

    return invoke
