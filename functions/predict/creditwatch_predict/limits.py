"""Bounds on what one request may send: bodies over the limit are refused with 413 before any parsing."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.requests import Request

from creditwatch_predict.errors import error_response
from creditwatch_predict.middleware import ASGIApp, Message, Receive, Scope, Send, request_log


class BodyLimitMiddleware:
    """Refuses a body over `max_body_bytes` with 413 `body_too_large`: by its Content-Length, or as it streams."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body (counting), refuse it if too large, else hand it to the app as it came."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, receive, send, declared)
            return
        # The whole body is read here (Mangum hands it over in one message anyway), so that a body
        # without a truthful Content-Length is stopped at the limit, not after parsing it.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send, size)
                return
            if not message.get("more_body", False):
                break
        request_log(Request(scope)).body_bytes = size
        replay: Iterator[Message] = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        request = Request(scope, receive)
        request_log(request).body_bytes = size
        more = "" if size <= self.limit + 1 else f" ({size} sent)"
        message = f"The body is larger than {self.limit} bytes{more}; split the batch"
        response = error_response(request, 413, "body_too_large", message)
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The request's Content-Length, if it declares a valid one."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
