"""The uniform sample every window engine takes: bottom-k on the ids' random bits, mixed with a seed.

The rule, in Python here and in SQL once (creditwatch_analytics.lake.sql.sample_query): keep the k records
of smallest `(sample_key, prediction_id)`. Equal keys (equal 48 random bits) are ordered by id, so the
records kept depend neither on the order they arrive in nor on the engine that reads them.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Iterable
from typing import Protocol, TypeVar


class Sampled(Protocol):
    """What the sample needs of a record: its id (the key's bits) and its model version (counted)."""

    @property
    def prediction_id(self) -> str:
        """The record's UUIDv7."""
        ...

    @property
    def model_version(self) -> str:
        """The model that scored it."""
        ...


R = TypeVar("R", bound=Sampled)


def sample_mask(seed: int) -> int:
    """The 48-bit mask a seed mixes into every key (the same in Python and in SQL)."""
    return random.Random(seed).getrandbits(48)


def sample_key(prediction_id: str, mask: int) -> int:
    """A record's sample key: its UUIDv7's last 48 random bits XOR the mask."""
    return int(prediction_id[-12:], 16) ^ mask


def sample_order(prediction_id: str, mask: int) -> tuple[int, str]:
    """Where a record stands in the sample: (key, id), the SQL's `ORDER BY sample_key, prediction_id`."""
    return int(prediction_id[-12:], 16) ^ mask, prediction_id


def _id_number(prediction_id: str) -> int:
    """The id's 128 bits, ordered as the id's lower-case hex text: negatable, unlike the text."""
    return int(prediction_id.replace("-", ""), 16)


def bottom_k(rows: Iterable[R], k: int, seed: int = 0) -> tuple[list[R], int, Counter[str]]:
    """The k rows of smallest (key, id), in that order; how many streamed by, and their model versions.

    Memory is k rows, not the window, and the order rows arrive in does not change which are kept.
    """
    mask = sample_mask(seed)
    if k < 1:
        versions_only = Counter(row.model_version for row in rows)
        return [], sum(versions_only.values()), versions_only
    # (-key, -id, n, row): the top is the largest (key, id) kept, the next to go; n keeps rows uncompared.
    heap: list[tuple[int, int, int, R]] = []
    versions: Counter[str] = Counter()
    n = 0
    worst = -1  # the top's key, once the heap holds k rows
    for row in rows:
        n += 1
        versions[row.model_version] += 1
        pid = row.prediction_id
        key = int(pid[-12:], 16) ^ mask
        if key > worst >= 0:
            continue  # most rows stop here, at one comparison of ints: the id is read only on equal keys
        if len(heap) < k:
            heapq.heappush(heap, (-key, -_id_number(pid), n, row))
            if len(heap) == k:
                worst = -heap[0][0]
        elif key < worst or _id_number(pid) < -heap[0][1]:
            heapq.heapreplace(heap, (-key, -_id_number(pid), n, row))
            worst = -heap[0][0]
    # Descending (-key, -id) is ascending (key, id): the sample in its order, no key computed again.
    return [row for *_, row in sorted(heap, reverse=True)], n, versions


def sorted_by_key(rows: Iterable[R], mask: int) -> list[R]:
    """Rows in sample order, (key, id): one order for every engine."""
    return sorted(rows, key=lambda r: sample_order(r.prediction_id, mask))
