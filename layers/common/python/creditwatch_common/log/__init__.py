"""The prediction log in DynamoDB: keys, items, resilient writes and window reads.

Records expire through the `expires_at` TTL attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from creditwatch_common.log.reader import LogReader
from creditwatch_common.log.writer import LogWriter, WriteOutcome


@dataclass
class PredictionLog(LogWriter, LogReader):
    """Writer and reader of one table, for the tools that do both (the CLI, tests)."""


__all__ = ["LogReader", "LogWriter", "PredictionLog", "WriteOutcome"]
