"""orjson at the API's edges: request bodies parsed and responses rendered in a fraction of stdlib's time.

A 1,000-application batch is ~100 kB in and ~200 kB out; stdlib json spent ~5 ms of the batch's
budget on the two (bench/predict_bench.py). orjson.JSONDecodeError subclasses json.JSONDecodeError,
so FastAPI still turns malformed bodies into its `json_invalid` validation error.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson."""

    async def json(self) -> Any:
        """The parsed body, cached like Starlette's."""
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    """A route that hands its endpoint an OrjsonRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, fed the orjson request."""
        handler = super().get_route_handler()

        async def orjson_handler(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return orjson_handler


class OrjsonResponse(JSONResponse):
    """JSONResponse rendered by orjson (UTF-8, compact, like Starlette's)."""

    def render(self, content: Any) -> bytes:
        """Serialise (orjson writes a non-finite float as null; the answers rendered here hold none)."""
        return orjson.dumps(content)
