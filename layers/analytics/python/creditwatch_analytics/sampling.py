"""The uniform sample every window engine takes: bottom-k on the ids' random bits, mixed with a seed."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable
from typing import TypeVar

from creditwatch_common.records import ScoredRow

R = TypeVar("R", bound=ScoredRow)


def sample_mask(seed: int) -> int:
    """The 48-bit mask a seed mixes into every key (the same in Python and in SQL)."""
    return random.Random(seed).getrandbits(48)


def sample_key(prediction_id: str, mask: int) -> int:
    """A record's sample key: its UUIDv7's last 48 random bits XOR the mask."""
    return int(prediction_id[-12:], 16) ^ mask


def bottom_k(rows: Iterable[ScoredRow], k: int, seed: int = 0) -> tuple[list[ScoredRow], int, Counter[str]]:
    """The k rows of smallest key (sorted by key), how many streamed by, and their model versions.

    Memory is k rows, not the window, and the order rows arrive in does not change which are kept.
    """
    mask = sample_mask(seed)
    heap: list[tuple[int, str, ScoredRow]] = []  # (-key, id, row): the k smallest keys
    versions: Counter[str] = Counter()
    n = 0
    for row in rows:
        n += 1
        versions[row.model_version] += 1
        key = int(row.prediction_id[-12:], 16) ^ mask
        if len(heap) < k:
            heapq.heappush(heap, (-key, row.prediction_id, row))
        elif key < -heap[0][0]:
            heapq.heapreplace(heap, (-key, row.prediction_id, row))
    return sorted_by_key([row for _, _, row in heap], mask), n, versions


def sorted_by_key(rows: Iterable[ScoredRow], mask: int) -> list[ScoredRow]:
    """Rows in sample-key order (ties, which need equal random bits, by id): one order for every engine."""
    return sorted(rows, key=lambda r: (int(r.prediction_id[-12:], 16) ^ mask, r.prediction_id))
