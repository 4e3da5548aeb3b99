"""A local stand-in for a Slack incoming webhook: records every message it accepts."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def make_handler(store: Path) -> type[BaseHTTPRequestHandler]:
    """Request handler class writing accepted messages to `store` (JSON lines)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, "ok")
            elif self.path == "/messages":
                lines = store.read_text().splitlines() if store.exists() else []
                self._reply(200, json.dumps([json.loads(x) for x in lines]), "application/json")
            else:
                self._reply(404, "no_service")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                payload = json.loads(raw)
            except ValueError:
                self._reply(400, "invalid_payload")
                return
            # Slack refuses a message with neither text nor blocks.
            if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")):
                self._reply(400, "no_text")
                return
            record = {"received_at": datetime.now(UTC).isoformat(), "path": self.path, "payload": payload}
            with lock:
                store.parent.mkdir(parents=True, exist_ok=True)
                with store.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
            self._reply(200, "ok")

    return Handler


def read_messages(store: Path) -> list[dict[str, Any]]:
    """Messages the sink has recorded."""
    if not store.exists():
        return []
    return [json.loads(line) for line in store.read_text().splitlines() if line.strip()]


def main() -> None:
    """Run the sink until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4567)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), make_handler(args.store)).serve_forever()


if __name__ == "__main__":
    main()
