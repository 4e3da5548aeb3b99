"""What the HTTP API does in front of the functions, for `creditwatch serve`: the reports route beside the app."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class _Context:
    """Enough of Lambda's context for Powertools' logger."""

    function_name = "ReportsFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ReportsFunction"
    memory_limit_in_mb = 256
    aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_api_event(request: Request, report_id: str) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway builds for GET /reports/{report_id}."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "GET /reports/{report_id}",
        "rawPath": request.url.path,
        "rawQueryString": request.url.query,
        "headers": dict(request.headers),
        "queryStringParameters": dict(request.query_params) or None,
        "pathParameters": {"report_id": report_id},
        "requestContext": {
            "requestId": secrets.token_hex(8),
            "timeEpoch": int(now * 1000),
            "http": {
                "method": "GET",
                "path": request.url.path,
                "sourceIp": request.client.host if request.client else None,
                "userAgent": request.headers.get("user-agent", ""),
            },
        },
        "isBase64Encoded": False,
    }


def with_reports_route(app: Any, reports_handler: LambdaHandler) -> Starlette:
    """An ASGI app with GET /reports/{report_id} on the reports function's handler and the rest on `app`."""

    async def open_report(request: Request) -> Response:
        result = reports_handler(http_api_event(request, request.path_params["report_id"]), _Context())
        body = result.get("body") or ""
        return Response(
            content=body if isinstance(body, str) else json.dumps(body),
            status_code=int(result["statusCode"]),
            headers=result.get("headers") or {},
        )

    return Starlette(routes=[Route("/reports/{report_id}", open_report, methods=["GET"]), Mount("/", app=app)])
