"""A Slack incoming-webhook client that honours rate limits, retries, and never reveals the URL."""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class SlackError(Exception):
    """Slack did not accept the message. The message never contains the webhook URL."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass
class SlackClient:
    """Posts to one webhook; retries 429 (after Retry-After), 5xx and timeouts within a time budget."""

    webhook_url: str
    timeout_s: float = 5.0
    max_attempts: int = 4
    base_delay_s: float = 0.5
    budget_s: float = 60.0  # keep well inside the function's timeout
    # Slack allows about one message a second per webhook: a run with several messages spaces them.
    min_interval_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _next_post_at: float = field(default=float("-inf"), init=False, repr=False)

    def __repr__(self) -> str:
        return "SlackClient(webhook_url='***')"

    def post(self, payload: dict[str, Any]) -> None:
        """Send one message or raise SlackError."""
        if not self.webhook_url:
            raise SlackError("no Slack webhook URL is configured (empty secret)")
        data = json.dumps(payload).encode()
        deadline = self.clock() + self.budget_s
        wait = self._next_post_at - self.clock()
        if wait > 0:
            self.sleep(wait)
        last: SlackError | None = None
        for attempt in range(self.max_attempts):
            try:
                self._send(data)
                self._next_post_at = self.clock() + self.min_interval_s
                return
            except SlackError as exc:
                last = exc
                if not exc.retryable or attempt + 1 == self.max_attempts:
                    raise
                delay = getattr(exc, "retry_after", None)
                if delay is None:
                    delay = random.uniform(0, self.base_delay_s * 2**attempt)
                if self.clock() + delay > deadline:
                    raise SlackError(f"{exc} (no time left to retry)", status=exc.status) from exc
                self.sleep(delay)
        assert last is not None
        raise last

    def _send(self, data: bytes) -> None:
        request = urllib.request.Request(
            self.webhook_url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                body = resp.read().decode("utf-8", "replace").strip()
                if body not in ("ok", ""):
                    raise SlackError(f"Slack answered 200 with {body[:100]!r}")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace").strip()[:200]
            if exc.code == 429:
                err = SlackError(f"Slack rate limit (429): {body}", status=429, retryable=True)
                err.retry_after = _retry_after(exc.headers.get("Retry-After"))  # type: ignore[attr-defined]
                raise err from None
            if exc.code >= 500:
                raise SlackError(f"Slack server error {exc.code}: {body}", status=exc.code, retryable=True) from None
            # 4xx other than 429 (invalid_payload, no_service, ...) will not get better by retrying.
            raise SlackError(f"Slack refused the message ({exc.code}): {body}", status=exc.code) from None
        except TimeoutError as exc:
            raise SlackError(f"Slack did not answer within {self.timeout_s} s", retryable=True) from exc
        except urllib.error.URLError as exc:
            # The reason may carry the host, never the path (where a webhook's secret lives).
            raise SlackError(f"cannot reach Slack: {type(exc.reason).__name__}", retryable=True) from None
        except (http.client.HTTPException, OSError) as exc:
            # Slack closing the connection (RemoteDisconnected), a reset, TLS: the message may not
            # have arrived, and none of these names the webhook.
            raise SlackError(f"connection to Slack failed: {type(exc).__name__}", retryable=True) from None


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0
