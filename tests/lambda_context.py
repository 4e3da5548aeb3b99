"""The Lambda context the tests hand to handlers: names, memory, request id and a running clock."""

from __future__ import annotations

import time


class LambdaContext:
    """A Lambda context whose remaining time runs down from `remaining_s` as the clock does."""

    function_version = "$LATEST"

    def __init__(
        self,
        function_name: str = "PredictFunction",
        remaining_s: float = 29.0,
        request_id: str = "test-request",
        memory_limit_in_mb: int = 1024,
    ) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = request_id
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self._ends = time.monotonic() + remaining_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's deadline."""
        return max(0, int((self._ends - time.monotonic()) * 1000))
