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
    """The k rows of smallest (key, id) (sorted so), how many streamed by, and their model versions.

    Memory is k rows, not the window, and the order rows arrive in does not change which are kept:
    equal keys (equal random bits) are ordered by id, as the lake's `ORDER BY sample_key, prediction_id`.
    """
    mask = sample_mask(seed)
    heap: list[tuple[int, str, ScoredRow]] = []  # (-key, id, row): the top holds the largest key
    versions: Counter[str] = Counter()
    n = 0
    for row in rows:
        n += 1
        versions[row.model_version] += 1
        key = int(row.prediction_id[-12:], 16) ^ mask
        if len(heap) < k:
            heapq.heappush(heap, (-key, row.prediction_id, row))
        elif key < -heap[0][0] or (key == -heap[0][0] and row.prediction_id < _worst(heap)[1]):
            _replace_worst(heap, (-key, row.prediction_id, row))
    return sorted_by_key([row for _, _, row in heap], mask), n, versions


def _worst(heap: list[tuple[int, str, ScoredRow]]) -> tuple[int, str, ScoredRow]:
    """The entry of largest (key, id): the top, or of the entries sharing its key the largest id (rare)."""
    top = heap[0][0]
    if all(i >= len(heap) or heap[i][0] != top for i in (1, 2)):
        # In a heap, an entry equal to the top has only equal entries above it: none is a child, none at all.
        return heap[0]
    return max((e for e in heap if e[0] == top), key=lambda e: e[1])


def _replace_worst(heap: list[tuple[int, str, ScoredRow]], entry: tuple[int, str, ScoredRow]) -> None:
    """Put entry in place of the entry of largest (key, id)."""
    worst = _worst(heap)
    if worst is heap[0]:
        heapq.heapreplace(heap, entry)
        return
    heap[heap.index(worst)] = entry
    heapq.heapify(heap)


def sorted_by_key(rows: Iterable[ScoredRow], mask: int) -> list[ScoredRow]:
    """Rows in sample-key order (ties, which need equal random bits, by id): one order for every engine."""
    return sorted(rows, key=lambda r: (int(r.prediction_id[-12:], 16) ^ mask, r.prediction_id))
