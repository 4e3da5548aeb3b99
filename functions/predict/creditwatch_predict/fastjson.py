"""orjson at the API's edges: request bodies parsed and responses rendered in a fraction of stdlib's time.

A 1,000-application batch is ~100 kB in and ~200 kB out; stdlib json spent ~5 ms of the batch's
budget on the two (bench/predict_bench.py). orjson.JSONDecodeError subclasses json.JSONDecodeError,
so FastAPI still turns malformed bodies into its `json_invalid` validation error. orjson (like stdlib
json) keeps the last of duplicate keys silently: `loads` refuses them instead (DuplicateKey, a 400).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class DuplicateKey(HTTPException):
    """A JSON object of the body names a key twice (an HTTPException: FastAPI's body parsing lets it through)."""

    def __init__(self, key: str) -> None:
        # The key is the client's text: named in the answer's details, not in the message (which is logged).
        super().__init__(400, "A key appears twice in one JSON object; send it once")
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def _shallow_keys(value: Any) -> int:
    """Keys of the body's object and of the objects in it or in its arrays (where a batch's are), no deeper."""
    values = value.values() if type(value) is dict else value if type(value) is list else ()
    n = len(value) if type(value) is dict else 0
    for v in values:
        if type(v) is dict:
            n += len(v)
        elif type(v) is list:
            # A batch's thousand objects counted by len() alone when the list holds nothing else.
            n += sum(map(len, v)) if set(map(type, v)) == {dict} else sum(len(x) for x in v if type(x) is dict)
    return n


def loads(body: bytes) -> Any:
    """The parsed body; DuplicateKey if an object repeats a key.

    Every key sent adds one `:` outside strings, and a dropped duplicate is a key the parsed value lacks:
    so keys counted in the value (any subset of them) equal to the body's `:` prove that none repeats.
    First the keys near the top (a batch's: ~0.3 ms for 1,000 applications, 0.57 MB, most of it the
    count); then, for bodies with `:` in strings (times), the value re-serialised, whose `:` are the same
    as the body's unless a key was dropped (in a body without backslashes: an escape can spell a `:`);
    else stdlib's parser, which sees every pair (3 to 10 ms for such a batch).
    """
    value = orjson.loads(body)
    colons = body.count(b":")
    if _shallow_keys(value) == colons:
        return value
    try:
        if b"\\" not in body and orjson.dumps(value).count(b":") == colons:
            return value
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (254): stdlib's parser decides
        pass
    # ~1,000 levels deep (RecursionError), which no field of ours accepts: validation refuses it whatever its keys.
    with contextlib.suppress(RecursionError):
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    return value


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson."""

    async def json(self) -> Any:
        """The parsed body, cached like Starlette's."""
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
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
