"""Fault injection over real sockets: servers that hang or reset, an AWS proxy that throttles, a flaky Slack.

Nothing here wraps the code under test: each tool is a TCP or HTTP server on 127.0.0.1 (a free port
chosen by the kernel), so the client's own stack (botocore, urllib3, urllib) meets the fault the way
it would meet it on the network. Every tool is a context manager; leaving the block (or `stop()`)
releases held connections, closes the listening socket and joins its threads.

- `HangingServer`: accepts and never answers (read timeouts).
- `ResettingServer`: accepts and resets (ECONNRESET), or reads the request and closes without an
  answer (`http.client.RemoteDisconnected`).
- `FaultProxy`: an HTTP proxy in front of an AWS endpoint (the moto server) that forwards requests
  verbatim and injects faults per operation (`throttle`, `server_error`, `hang`, `reset`, `partial`).
- `SlackWebhook`: a Slack-like incoming webhook that answers `ok` or drops, resets or hangs.

Tests import it as `from faults import ...` (tests/ is on sys.path: pytest puts the folder of the
root conftest.py there) or as `from tests.faults import ...` when the repository root is on sys.path.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

LOCALHOST = "127.0.0.1"
FAULT_KINDS = ("throttle", "server_error", "hang", "reset", "partial")
FaultKind = Literal["throttle", "server_error", "hang", "reset", "partial"]
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, so the peer sees ECONNRESET (not a clean EOF)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _read_http_request(sock: socket.socket, timeout: float = 2.0) -> bytes:
    """Read one HTTP request (headers, then Content-Length bytes of body) from a raw socket."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        data = head + b"\r\n\r\n" + body
    return data


# ---- raw TCP servers -------------------------------------------------------------------------------


class _TcpServer:
    """A listening socket on 127.0.0.1 with an accept loop in a thread; subclasses decide what to do."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOCALHOST, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._accepted = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server (`http://127.0.0.1:<port>`)."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    def start(self) -> Self:
        """Start accepting (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
            self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._accepted += 1
            self._on_accept(conn)

    def _on_accept(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _close_connections(self) -> None:
        """Release whatever the subclass still holds."""

    def stop(self) -> None:
        """Stop accepting, close every connection held and the listening socket; join the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._close_connections()
        self._listener.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class HangingServer(_TcpServer):
    """Accepts connections and never answers: holds them open (without reading) until stopped.

    A client sees its connect succeed and then waits for a response that never comes: its read
    timeout fires. `connections` counts the accepted connections.
    """

    def __init__(self) -> None:
        super().__init__()
        self._held: list[socket.socket] = []

    def _on_accept(self, conn: socket.socket) -> None:
        with self._lock:
            self._held.append(conn)

    def _close_connections(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(OSError):
                conn.close()


class ResettingServer(_TcpServer):
    """Accepts connections and ends them without an HTTP answer.

    mode="reset" (default): SO_LINGER 0 then close, at once: the peer gets RST (ECONNRESET, or
    EPIPE if it was still sending). With read_request=True it first reads the request, so the
    reset reliably hits the client while it waits for the response.
    mode="drop": reads the request, then closes cleanly (FIN) without a byte of response, as Slack
    or a load balancer dropping the connection does: `http.client.RemoteDisconnected`.
    """

    def __init__(self, mode: Literal["reset", "drop"] = "reset", *, read_request: bool = False) -> None:
        super().__init__()
        if mode not in ("reset", "drop"):
            raise ValueError(f"mode must be 'reset' or 'drop', not {mode!r}")
        self.mode = mode
        self.read_request = read_request
        self.requests: list[bytes] = []

    def _on_accept(self, conn: socket.socket) -> None:
        if self.mode == "drop" or self.read_request:
            request = _read_http_request(conn)
            with self._lock:
                self.requests.append(request)
        if self.mode == "drop":
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        else:
            _reset(conn)


# ---- threaded HTTP servers that can be stopped without leaking threads -----------------------------


class _StoppableHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer whose stop() wakes idle keep-alive handlers and joins every thread."""

    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        super().__init__((LOCALHOST, port), handler)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.accepted = 0
        self.release = threading.Event()  # set on stop: hanging handlers return at once
        self._thread: threading.Thread | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self.sockets_lock:
            open_now = list(self.open_sockets)
        for sock in open_now:  # handlers blocked on a keep-alive read wake up with EOF
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.server_close()


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pooled connections expect
    # The headers and the body of an answer go out in two writes: with Nagle's algorithm the body
    # waits for the client's delayed ACK of the headers, ~40 ms per call that no real endpoint adds.
    disable_nagle_algorithm = True
    server: _StoppableHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reset_connection(self) -> None:
        """RST the client's connection (no response)."""
        self.close_connection = True
        self.rfile.close()
        self.wfile.close()
        _reset(self.connection)

    def _drop_connection(self) -> None:
        """Close the client's connection cleanly (FIN) without a response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _hang(self, seconds: float) -> None:
        """Hold the request without answering (until `seconds` pass or the server stops), then drop it."""
        self.server.release.wait(seconds)
        self._drop_connection()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# ---- the AWS fault proxy ----------------------------------------------------------------------------


@dataclass
class Fault:
    """One rule: what to inject, and when (probability per call, or on the next `count` calls)."""

    kind: FaultKind
    probability: float | None = None
    count: int | None = None
    forward: float = 0.5  # partial: share of the batch's items forwarded (the first ones, in order)
    hang_seconds: float = 30.0  # hang: how long the request is held (stop() releases it at once)
    sqs_failed_code: str = "InternalError"  # partial SendMessageBatch: Code of the Failed entries
    sender_fault: bool = False  # partial SendMessageBatch: SenderFault of the Failed entries


@dataclass
class OpStats:
    """What the proxy did with one operation's calls."""

    seen: int = 0
    forwarded: int = 0  # reached the upstream (a partial call is forwarded and faulted)
    faulted: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    items_forwarded: int = 0  # partial: batch items sent upstream
    items_refused: int = 0  # partial: batch items answered as UnprocessedItems / Failed


@dataclass
class _Call:
    service: str
    operation: str
    protocol: Literal["json", "query", "other"]


class FaultProxy:
    """An HTTP proxy in front of an AWS endpoint (the moto server) that injects faults per operation.

    Requests are forwarded verbatim: method, path and query, headers (Host as the client sent it, so
    SigV4 is untouched; a `partial` call rewrites the body, which moto does not check), body. The
    operation is `X-Amz-Target`'s part after the dot (JSON protocol: DynamoDB, and SQS since botocore
    1.34) or the `Action` parameter (query protocol, in the URL or the form body); an S3 call
    (path-style, as botocore sends to an IP endpoint) by its method and path: PutObject, GetObject,
    HeadObject, DeleteObject, CopyObject, ListObjectsV2, ...; anything else is "unknown".

    Switch faults from the test thread at any time::

        proxy.inject("PutItem", "throttle")                       # every PutItem, until cleared
        proxy.inject("PutItem", "server_error", count=2)          # the next 2 PutItem calls
        proxy.inject("BatchWriteItem", "partial", forward=0.6)    # 60% of the items go through
        proxy.inject("*", "hang", probability=0.1)                # 10% of every call (seeded RNG)
        proxy.clear("PutItem"); proxy.clear()                     # off for one, or for all
        with proxy.faulting("SendMessageBatch", "partial"): ...   # on inside the block only

    `proxy.stats("PutItem")` tells how many calls it saw, forwarded and faulted.
    """

    def __init__(self, upstream: str, *, seed: int = 0, upstream_timeout: float = 30.0, port: int = 0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream
        self._upstream_host = parsed.hostname
        self._upstream_port = parsed.port or 80
        self._upstream_timeout = upstream_timeout
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: dict[str, Fault] = {}
        self._stats: dict[str, OpStats] = {}
        self._server = _StoppableHTTPServer(self._handler_class(), port)
        self.port: int = self._server.server_address[1]
        self._started = False

    # -- life cycle
    @property
    def url(self) -> str:
        """Where to point a client: `endpoint_url=proxy.url` or `AWS_ENDPOINT_URL_<SERVICE>=proxy.url`."""
        return f"http://{LOCALHOST}:{self.port}"

    def start(self) -> Self:
        """Start serving (idempotent)."""
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Release hanging requests, close connections and the socket, join every thread."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- switching faults
    def inject(
        self,
        operation: str,
        kind: FaultKind,
        *,
        probability: float | None = None,
        count: int | None = None,
        **options: Any,
    ) -> Fault:
        """Inject `kind` into `operation` ("PutItem", "SendMessageBatch", or "*" for any operation).

        With neither probability nor count, every call faults; `probability` draws from the proxy's
        seeded RNG; `count` faults the next N calls then stops. `options` are `Fault`'s other fields
        (forward, hang_seconds, sqs_failed_code, sender_fault). Replaces the operation's rule.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {FAULT_KINDS}")
        if kind == "partial" and operation not in ("BatchWriteItem", "SendMessageBatch"):
            raise ValueError("partial applies to BatchWriteItem and SendMessageBatch")
        rule = Fault(kind=kind, probability=probability, count=count, **options)
        with self._lock:
            self._rules[self._op_name(operation)] = rule
        return rule

    def clear(self, operation: str | None = None) -> None:
        """Switch faults off for one operation, or for all."""
        with self._lock:
            if operation is None:
                self._rules.clear()
            else:
                self._rules.pop(self._op_name(operation), None)

    @contextlib.contextmanager
    def faulting(self, operation: str, kind: FaultKind, **kwargs: Any) -> Iterator[Fault]:
        """`inject` for the duration of a with-block."""
        rule = self.inject(operation, kind, **kwargs)
        try:
            yield rule
        finally:
            self.clear(operation)

    def stats(self, operation: str) -> OpStats:
        """A copy of the counters of one operation (zeros if never seen)."""
        with self._lock:
            st = self._stats.get(self._op_name(operation), OpStats())
            return OpStats(st.seen, st.forwarded, st.faulted, Counter(st.by_kind), st.items_forwarded, st.items_refused)

    def all_stats(self) -> dict[str, OpStats]:
        """Counters of every operation seen."""
        with self._lock:
            names = list(self._stats)
        return {name: self.stats(name) for name in names}

    def reset_stats(self) -> None:
        """Zero the counters."""
        with self._lock:
            self._stats.clear()

    @staticmethod
    def _op_name(operation: str) -> str:
        return operation.rsplit(".", 1)[-1]

    # -- request handling
    def _decide(self, op: str) -> Fault | None:
        with self._lock:
            st = self._stats.setdefault(op, OpStats())
            st.seen += 1
            rule = self._rules.get(op) or self._rules.get("*")
            if rule is None:
                return None
            if rule.count is not None:
                if rule.count <= 0:
                    return None
                rule.count -= 1
            elif rule.probability is not None and self._rng.random() >= rule.probability:
                return None
            if rule.kind == "partial" and op not in ("BatchWriteItem", "SendMessageBatch"):
                return None  # a "*" partial leaves the other operations alone
            st.faulted += 1
            st.by_kind[rule.kind] += 1
            return rule

    def _count(self, op: str, forwarded: int = 0, items_forwarded: int = 0, items_refused: int = 0) -> None:
        with self._lock:
            st = self._stats.setdefault(op, OpStats())
            st.forwarded += forwarded
            st.items_forwarded += items_forwarded
            st.items_refused += items_refused

    def _handler_class(self) -> type[_QuietHandler]:
        proxy = self

        class Handler(_QuietHandler):
            def _handle(self) -> None:
                body = self._read_body()
                call = proxy._identify(self.command, self.path, self.headers, body)
                rule = proxy._decide(call.operation)
                if rule is None:
                    proxy._count(call.operation, forwarded=1)
                    self._relay(*proxy._forward(self.command, self.path, self.headers, body))
                elif rule.kind == "throttle":
                    self._relay(*_error_response(call, 400, "throttle"))
                elif rule.kind == "server_error":
                    self._relay(*_error_response(call, 500, "server_error"))
                elif rule.kind == "hang":
                    self._hang(rule.hang_seconds)
                elif rule.kind == "reset":
                    self._reset_connection()
                else:  # partial
                    self._relay(*proxy._partial(call, rule, self.command, self.path, self.headers, body))

            def _relay(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() not in ("content-length", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler

    @staticmethod
    def _identify(method: str, path: str, headers: Any, body: bytes) -> _Call:
        auth = headers.get("Authorization", "")
        service = ""
        if "Credential=" in auth:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            service = scope[3] if len(scope) > 3 else ""
        target = headers.get("X-Amz-Target")
        if target:
            prefix, _, op = target.rpartition(".")
            if not service:
                service = "sqs" if prefix == "AmazonSQS" else "dynamodb" if prefix.startswith("DynamoDB") else prefix
            return _Call(service or "unknown", op, "json")
        params = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if "Action" not in params and "x-www-form-urlencoded" in headers.get("Content-Type", ""):
            params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in params:
            return _Call(service or "unknown", params["Action"][0], "query")
        if "x-id" in params:  # some SDKs name REST operations in the query (botocore does not)
            return _Call(service or "unknown", params["x-id"][0], "other")
        if service == "s3":
            return _Call("s3", _s3_operation(method, path, headers), "other")
        return _Call(service or "unknown", "unknown", "other")

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self._upstream_host, self._upstream_port, timeout=self._upstream_timeout)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                    continue
                conn.putheader(name, value)  # Host included, as the client sent it
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _partial(
        self, call: _Call, rule: Fault, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        request = json.loads(body)
        if call.operation == "BatchWriteItem":
            items = [(table, req) for table, reqs in request["RequestItems"].items() for req in reqs]
            keep = int(len(items) * rule.forward)
            sent, refused = items[:keep], items[keep:]
            if sent:
                forwarded: dict[str, list[Any]] = {}
                for table, req in sent:
                    forwarded.setdefault(table, []).append(req)
                status, resp_headers, resp_body = self._forward(
                    method, path, headers, json.dumps({**request, "RequestItems": forwarded}).encode()
                )
                if status != 200:
                    self._count(call.operation, forwarded=1)
                    return status, resp_headers, resp_body
                answer = json.loads(resp_body)
            else:
                status, resp_headers, answer = 200, _json_headers("dynamodb"), {}
            unprocessed: dict[str, list[Any]] = answer.get("UnprocessedItems") or {}
            for table, req in refused:
                unprocessed.setdefault(table, []).append(req)
            answer["UnprocessedItems"] = unprocessed
        else:  # SendMessageBatch
            entries = request["Entries"]
            keep = int(len(entries) * rule.forward)
            sent, refused = entries[:keep], entries[keep:]
            if sent:
                status, resp_headers, resp_body = self._forward(
                    method, path, headers, json.dumps({**request, "Entries": sent}).encode()
                )
                if status != 200:
                    self._count(call.operation, forwarded=1)
                    return status, resp_headers, resp_body
                answer = json.loads(resp_body)
            else:
                status, resp_headers, answer = 200, _json_headers("sqs"), {}
            answer.setdefault("Successful", [])
            answer["Failed"] = list(answer.get("Failed") or []) + [
                {
                    "Id": entry["Id"],
                    "SenderFault": rule.sender_fault,
                    "Code": rule.sqs_failed_code,
                    "Message": "injected by FaultProxy (partial)",
                }
                for entry in refused
            ]
        self._count(call.operation, forwarded=1 if sent else 0, items_forwarded=len(sent), items_refused=len(refused))
        out = json.dumps(answer).encode()
        return status, _with_crc32(resp_headers, out), out


def _s3_operation(method: str, path: str, headers: Any) -> str:
    """The S3 operation of a path-style REST request (botocore sends no operation name for S3)."""
    split = urllib.parse.urlsplit(path)
    parts = [p for p in split.path.split("/") if p]
    query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
    if not parts:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if len(parts) > 1:  # an object
        if method == "PUT":
            if "partNumber" in query:
                return "UploadPart"
            return "CopyObject" if headers.get("x-amz-copy-source") else "PutObject"
        if method == "POST":
            return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
        return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, f"{method} object")
    if "list-type" in query:
        return "ListObjectsV2"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if not query:
        return {"GET": "ListObjects", "PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
            method, f"{method} bucket"
        )
    return f"{method} ?{sorted(query)[0]}"


def _json_headers(service: str) -> list[tuple[str, str]]:
    return [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", str(uuid.uuid4()))]


def _with_crc32(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """Headers with x-amz-crc32 recomputed for `body` (botocore checks it on DynamoDB answers)."""
    kept = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
    return [*kept, ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF))]


_ERRORS = {
    # (service, fault) -> error code; a JSON error's __type is "<namespace>#<code>"
    ("dynamodb", "throttle"): "ProvisionedThroughputExceededException",
    ("dynamodb", "server_error"): "InternalServerError",
    ("sqs", "throttle"): "RequestThrottled",
    ("sqs", "server_error"): "InternalError",
    ("s3", "throttle"): "SlowDown",
    ("s3", "server_error"): "InternalError",
}
_NAMESPACES = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}


def _error_response(call: _Call, status: int, fault: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error the service itself would send, in the call's protocol."""
    code = _ERRORS.get((call.service, fault)) or ("ThrottlingException" if fault == "throttle" else "InternalFailure")
    message = f"injected by FaultProxy ({fault})"
    request_id = str(uuid.uuid4())
    if call.service == "s3" or call.protocol == "other":  # REST-XML: S3 throttles with 503 SlowDown
        status = 503 if call.service == "s3" and fault == "throttle" else status
        rest = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        return status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], rest.encode()
    if call.protocol == "query":
        kind = "Sender" if status < 500 else "Receiver"
        xml = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], xml
    namespace = _NAMESPACES.get(call.service, f"com.amazonaws.{call.service}")
    body = json.dumps({"__type": f"{namespace}#{code}", "message": message}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", request_id)]
    if call.service == "sqs":
        # SQS is "awsQueryCompatible": botocore takes the code from this header when present.
        headers.append(("x-amzn-query-error", f"{code};{'Sender' if status < 500 else 'Receiver'}"))
    return status, _with_crc32(headers, body), body


# ---- Athena as the service answers where moto does not ------------------------------------------------


class AthenaProxy(FaultProxy):
    """A FaultProxy in front of moto's Athena that answers two things moto cannot, on the real call path.

    moto records queries and moves them QUEUED -> RUNNING -> SUCCEEDED (or CANCELLED when stopped),
    but never fails one and serves every result row in one page. `end_next(state, reason, scanned)`
    rewrites the next GetQueryExecution answer of a query into Athena's FAILED or CANCELLED status
    with its StateChangeReason (as the service reports a failed query or one cancelled at the
    workgroup's bytes-scanned cutoff); `page_size` makes GetQueryResults honour MaxResults and
    NextToken as the service does (moto's full answer sliced, the token an offset).
    """

    def __init__(self, upstream: str, *, page_size: int | None = None, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self.page_size = page_size
        self._ending: dict[str, Any] | None = None

    def end_next(self, state: str, reason: str, scanned: int | None = None) -> None:
        """The next GetQueryExecution answer reports `state` with `reason` (and bytes scanned)."""
        with self._lock:
            self._ending = {"State": state, "StateChangeReason": reason, "scanned": scanned}

    def _handler_class(self) -> type[_QuietHandler]:
        proxy = self
        base = super()._handler_class()

        class Handler(base):  # type: ignore[valid-type,misc]
            def _handle(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                op = target.rpartition(".")[2]
                if op not in ("GetQueryExecution", "GetQueryResults"):
                    super()._handle()
                    return
                body = self._read_body()
                request = json.loads(body or b"{}")
                forwarded = body
                if op == "GetQueryResults":
                    forwarded = json.dumps(
                        {k: v for k, v in request.items() if k not in ("MaxResults", "NextToken")}
                    ).encode()
                status, headers, answer = proxy._forward(self.command, self.path, self.headers, forwarded)
                proxy._decide(op)
                proxy._count(op, forwarded=1)
                if status == 200:
                    doc = json.loads(answer)
                    if op == "GetQueryExecution":
                        with proxy._lock:
                            ending, proxy._ending = proxy._ending, None
                        if ending is not None:
                            execution = doc["QueryExecution"]
                            execution["Status"].update(
                                State=ending["State"], StateChangeReason=ending["StateChangeReason"]
                            )
                            if ending["scanned"] is not None:
                                execution.setdefault("Statistics", {})["DataScannedInBytes"] = ending["scanned"]
                    elif proxy.page_size is not None:
                        rows = doc["ResultSet"]["Rows"]
                        size = min(int(request.get("MaxResults") or proxy.page_size), proxy.page_size)
                        at = int(request.get("NextToken") or 0)
                        doc["ResultSet"]["Rows"] = rows[at : at + size]
                        if at + size < len(rows):
                            doc["NextToken"] = str(at + size)
                    answer = json.dumps(doc).encode()
                self._relay(status, headers, answer)

            do_GET = do_POST = _handle

        return Handler


# ---- CodeDeploy's hook call and Lambda versions, as the services answer where moto does not ------------


class DeployStub(FaultProxy):
    """A FaultProxy in front of moto's CodeDeploy that also answers what moto cannot, on the real call path.

    moto 5 keeps deployments (CreateDeployment, GetDeployment: forwarded) but has no
    PutLifecycleEventHookExecutionStatus: answered here and recorded in `statuses` as
    (deployment id, execution id, status). moto's Lambda cannot run a function without Docker: Invoke
    and GetFunctionConfiguration of a published version are answered by the handler registered with
    `add_version(version, model_version, handler)` (the real predict handler, in this process), so the
    hook meets a version through botocore's own Lambda client. Faults apply per operation as in
    FaultProxy (`inject("Invoke", "hang")`: the version never answers).
    """

    def __init__(self, upstream: str, **kwargs: Any) -> None:
        super().__init__(upstream, **kwargs)
        self.statuses: list[tuple[str, str, str]] = []
        self.invocations: list[tuple[str, str]] = []  # (function, qualifier)
        self._versions: dict[str, tuple[str, Any]] = {}

    def add_version(self, version: str, model_version: str, handler: Any) -> None:
        """A published version: its MODEL_VERSION and `handler(event, context) -> result`."""
        with self._lock:
            self._versions[version] = (model_version, handler)

    def _handler_class(self) -> type[_QuietHandler]:
        proxy = self
        base = super()._handler_class()

        class Handler(base):  # type: ignore[valid-type,misc]
            def _handle(self) -> None:
                split = urllib.parse.urlsplit(self.path)
                parts = [p for p in split.path.split("/") if p]
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".PutLifecycleEventHookExecutionStatus"):
                    self._hook_status()
                elif len(parts) == 4 and parts[:2] == ["2015-03-31", "functions"]:
                    op = {"invocations": "Invoke", "configuration": "GetFunctionConfiguration"}.get(parts[3])
                    if op is None:
                        super()._handle()
                        return
                    qualifier = urllib.parse.parse_qs(split.query).get("Qualifier", ["$LATEST"])[0]
                    self._function(op, urllib.parse.unquote(parts[2]), qualifier)
                else:
                    super()._handle()

            def _hook_status(self) -> None:
                body = json.loads(self._read_body() or b"{}")
                if self._faulted("PutLifecycleEventHookExecutionStatus"):
                    return
                with proxy._lock:
                    proxy.statuses.append((body["deploymentId"], body["lifecycleEventHookExecutionId"], body["status"]))
                answer = json.dumps({"lifecycleEventHookExecutionId": body["lifecycleEventHookExecutionId"]})
                self._relay(200, _json_headers("codedeploy"), answer.encode())

            def _faulted(self, op: str) -> bool:
                rule = proxy._decide(op)
                if rule is None:
                    return False
                if rule.kind == "hang":
                    self._hang(rule.hang_seconds)
                elif rule.kind == "reset":
                    self._reset_connection()
                else:
                    call = _Call("lambda" if op != "PutLifecycleEventHookExecutionStatus" else "codedeploy", op, "json")
                    self._relay(*_error_response(call, 500 if rule.kind == "server_error" else 400, rule.kind))
                return True

            def _function(self, op: str, function: str, qualifier: str) -> None:
                payload = self._read_body()
                if self._faulted(op):
                    return
                with proxy._lock:
                    known = proxy._versions.get(qualifier)
                    proxy.invocations.append((function, qualifier))
                if known is None:
                    error = {"Type": "User", "Message": f"Function not found: {function}:{qualifier}"}
                    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ResourceNotFoundException")]
                    self._relay(404, headers, json.dumps(error).encode())
                    return
                model_version, handler = known
                if op == "GetFunctionConfiguration":
                    config = {
                        "FunctionName": function,
                        "Version": qualifier,
                        "Environment": {"Variables": {"MODEL_VERSION": model_version}},
                    }
                    self._relay(200, [("Content-Type", "application/json")], json.dumps(config).encode())
                    return
                import asyncio

                from lambda_context import LambdaContext

                # Mangum runs the app on the thread's event loop, as Lambda's main thread has one.
                asyncio.set_event_loop(asyncio.new_event_loop())
                headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", qualifier)]
                try:
                    result = handler(json.loads(payload), LambdaContext(function_name=function))
                except Exception as exc:  # noqa: BLE001 - the version raised: Lambda says so in a header
                    error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
                    headers.append(("X-Amz-Function-Error", "Unhandled"))
                    self._relay(200, headers, json.dumps(error).encode())
                    return
                proxy._count(op, forwarded=1)
                self._relay(200, headers, json.dumps(result).encode())

            do_GET = do_POST = _handle

        return Handler


# ---- a Slack-like incoming webhook -----------------------------------------------------------------

SlackMode = Literal["ok", "drop", "reset", "hang"]


class SlackWebhook:
    """A Slack incoming webhook on 127.0.0.1: 200 `ok` when healthy, or a transport fault.

    `mode` (settable at any time, also via `set_mode`): "ok" answers 200 `ok` and records the JSON
    payload in `payloads`; "drop" reads the request and closes without an answer (the client gets
    `http.client.RemoteDisconnected`); "reset" reads it and resets the connection (ECONNRESET);
    "hang" holds it without answering for `hang_seconds` (or until stop). `attempts` counts every
    request, faulted or not; `connections` counts TCP connections.
    """

    def __init__(self, mode: SlackMode = "ok", *, hang_seconds: float = 30.0, port: int = 0) -> None:
        self.mode: SlackMode = mode
        self.hang_seconds = hang_seconds
        self.payloads: list[Any] = []
        self.attempts = 0
        self._lock = threading.Lock()
        self._server = _StoppableHTTPServer(self._handler_class(), port)
        self.port: int = self._server.server_address[1]
        self._started = False

    @property
    def url(self) -> str:
        """The webhook URL (a Slack-shaped path)."""
        return f"http://{LOCALHOST}:{self.port}/services/T0000/B0000/fault-injection"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._server.accepted

    def set_mode(self, mode: SlackMode) -> None:
        """Switch behaviour for the next requests."""
        if mode not in ("ok", "drop", "reset", "hang"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode

    def start(self) -> Self:
        """Start serving (idempotent)."""
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        """Release hanging requests, close connections and the socket, join every thread."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[_QuietHandler]:
        sink = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                raw = self._read_body()
                mode = sink.mode
                with sink._lock:
                    sink.attempts += 1
                if mode == "drop":
                    self._drop_connection()
                elif mode == "reset":
                    self._reset_connection()
                elif mode == "hang":
                    self._hang(sink.hang_seconds)
                else:
                    try:
                        payload = json.loads(raw)
                    except ValueError:
                        self._send(400, b"invalid_payload", {"Content-Type": "text/plain"})
                        return
                    with sink._lock:
                        sink.payloads.append(payload)
                    self._send(200, b"ok", {"Content-Type": "text/plain"})

        return Handler


def wait_until(predicate: Any, seconds: float = 5.0) -> bool:
    """Poll `predicate` until true or `seconds` pass (servers count on their own threads)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def main(argv: list[str] | None = None) -> None:
    """Run a FaultProxy in the foreground: `python tests/faults.py --upstream URL --fault PutItem=throttle`.

    A fault is OP=KIND, optionally OP=KIND@0.2 (probability) or OP=KIND*3 (the next 3 calls).
    """
    import argparse

    parser = argparse.ArgumentParser(description="A fault-injecting proxy in front of an AWS endpoint (moto).")
    parser.add_argument("--upstream", default="http://127.0.0.1:4566")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault", action="append", default=[], metavar="OP=KIND[@P|*N]")
    args = parser.parse_args(argv)
    proxy = FaultProxy(args.upstream, seed=args.seed, port=args.port)
    for spec in args.fault:
        op, _, kind = spec.partition("=")
        opts: dict[str, Any] = {}
        if "@" in kind:
            kind, p = kind.split("@", 1)
            opts["probability"] = float(p)
        elif "*" in kind:
            kind, n = kind.split("*", 1)
            opts["count"] = int(n)
        proxy.inject(op, kind, **opts)  # type: ignore[arg-type]
    with proxy:
        print(f"FaultProxy on {proxy.url} -> {args.upstream}; Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(5)
                for name, st in proxy.all_stats().items():
                    print(f"{name}: seen {st.seen} forwarded {st.forwarded} faulted {st.faulted}", flush=True)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()


@contextlib.contextmanager
def threaded_moto() -> Iterator[str]:
    """A moto server in a thread on a free port (its URL), stopped and its socket closed on exit."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        if server._server is not None:
            server._server.server_close()
