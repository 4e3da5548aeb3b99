"""Readiness (`GET /health?deep=true`): can the function reach the log table and the spill queue, within a budget."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from creditwatch_common.aws import error_code

OK = "ok"
# A key no record has (records are LOG#<day>#<shard>): the GetItem reads nothing, for half a read unit.
PROBE_KEY = {"pk": {"S": "HEALTH#probe"}, "sk": {"S": "HEALTH#probe"}}


def health_client_config(budget_s: float) -> dict[str, Any]:
    """Botocore options of the check's clients: one attempt, and an answer or a timeout within the budget."""
    return {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": budget_s / 3,
        "read_timeout": budget_s * 2 / 3,
    }


@dataclass
class Readiness:
    """Checks the log table (GetItem of a key no record has) and the spill queue (GetQueueAttributes) at once."""

    dynamodb: Any
    table: str
    sqs: Any
    spill_queue_url: str | None
    budget_s: float = 1.5
    # Threads outlive a hung call only until the clients' own timeouts (within the budget) end it.
    _pool: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")
    )

    def check(self) -> dict[str, str]:
        """Each dependency: `ok`, `not configured`, or `unreachable: <why>`; never longer than the budget."""
        probes: dict[str, Callable[[], Any]] = {"log_table": self._log_table}
        if self.spill_queue_url:
            probes["spill_queue"] = self._spill_queue
        # The clients are built (no network: ~0.2 s each, on an instance's first deep check) before the
        # budget starts, so that it measures the dependencies, not botocore's start-up.
        _ = self.dynamodb.get_item, self.sqs.get_queue_attributes
        futures = {name: self._pool.submit(_outcome, probe) for name, probe in probes.items()}
        done, _ = concurrent.futures.wait(futures.values(), timeout=self.budget_s)
        checks = {
            name: future.result() if future in done else f"unreachable: no answer within {self.budget_s:g} s"
            for name, future in futures.items()
        }
        if not self.spill_queue_url:
            checks["spill_queue"] = "not configured"
        return checks

    def _log_table(self) -> None:
        self.dynamodb.get_item(TableName=self.table, Key=PROBE_KEY, ProjectionExpression="pk")

    def _spill_queue(self) -> None:
        self.sqs.get_queue_attributes(QueueUrl=self.spill_queue_url, AttributeNames=["ApproximateNumberOfMessages"])


def _outcome(probe: Callable[[], Any]) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer: what is down and why
        return f"unreachable: {error_code(exc)}: {str(exc)[:200]}"
    return OK


def healthy(checks: dict[str, str]) -> bool:
    """Every dependency answered (one not configured is not down)."""
    return all(v == OK or v == "not configured" for v in checks.values())
