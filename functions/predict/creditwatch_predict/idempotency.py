"""`Idempotency-Key` on the scoring and outcome routes: a retry gets the first answer again, and nothing twice."""

from __future__ import annotations

from starlette.requests import Request

from creditwatch_common.idempotency import IdempotencyStore, StoredAnswer, fingerprint
from creditwatch_predict.errors import error_response
from creditwatch_predict.middleware import ASGIApp, Message, Receive, Scope, Send, request_log

HEADER = b"idempotency-key"
ROUTES = frozenset({"/predict", "/predict-batch", "/outcomes"})
MAX_KEY_CHARS = 255
REPLAYED_HEADER = b"idempotent-replayed"


class IdempotencyMiddleware:
    """Claims the request's key before the app runs; keeps a 2xx answer for retries, gives the key back otherwise."""

    def __init__(self, app: ASGIApp, *, store: IdempotencyStore | None) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app once per key and body; answer retries from the store."""
        key = _key(scope) if self.store is not None and scope["type"] == "http" else None
        if key is None or scope["method"] != "POST" or scope["path"] not in ROUTES:
            await self.app(scope, receive, send)
            return
        assert self.store is not None
        request = Request(scope, receive)
        if not 0 < len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
            text = f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters"
            await error_response(request, 400, "invalid_idempotency_key", text)(scope, receive, send)
            return
        # The body was read and bounded by BodyLimitMiddleware: reading it again costs nothing.
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        pk = self.store.item_key(scope["path"], key)
        fp = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        try:
            claim = self.store.claim(pk, fp)
        except Exception:  # noqa: BLE001 - the store is down: exactly-once cannot be promised, so nothing runs
            response = error_response(
                request, 503, "idempotency_unavailable", "The idempotency store cannot be reached; retry"
            )
            response.headers["retry-after"] = "1"
            await response(scope, receive, send)
            return
        if claim.state == "reused":
            text = "This Idempotency-Key was used with another request body; use a new key for a new request"
            await error_response(request, 422, "idempotency_key_reused", text)(scope, receive, send)
            return
        if claim.state == "in_progress":
            text = "A request with this Idempotency-Key is still being answered; retry in a moment"
            response = error_response(request, 409, "request_in_progress", text)
            response.headers["retry-after"] = "1"
            await response(scope, receive, send)
            return
        if claim.state == "replay" and claim.answer is not None:
            request_log(request).replayed = True
            await _send_answer(send, claim.answer)
            return
        request_log(request).idempotency = (self.store.table, pk)
        await self._run(scope, messages, receive, send, pk, fp)

    async def _run(self, scope: Scope, messages: list[Message], receive: Receive, send: Send, pk: str, fp: str) -> None:
        assert self.store is not None
        pending = iter(messages)

        async def replayed() -> Message:
            return next(pending, None) or await receive()

        status = 500
        content_type = "application/json"
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replayed, keep)
        except Exception:
            self.store.release(pk, fp)
            raise
        try:
            if 200 <= status < 300:
                self.store.complete(pk, fp, StoredAnswer(status, content_type, b"".join(chunks)))
            else:
                # A refused or failed request made no prediction: the key is free for a corrected retry.
                self.store.release(pk, fp)
        except Exception:  # noqa: BLE001 - the answer stands; the claim expires after its lock
            request_log(Request(scope)).idempotency_error = True


def _key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == HEADER:
            return str(value.decode("latin-1"))
    return None


async def _send_answer(send: Send, answer: StoredAnswer) -> None:
    headers = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(answer.body)).encode()),
        (REPLAYED_HEADER, b"true"),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})
