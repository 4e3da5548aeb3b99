"""The one timing helper of the benchmarks: wall time of repeated calls, after a warm-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timings(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    """Wall time of n calls, in ms."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out
