"""What every function's init ends with: how the cyclic GC treats what init built and what comes after."""

from __future__ import annotations

import gc

# Allocations between young-generation collections (CPython's default: 700). A 1,000-application batch
# allocates ~100,000 short-lived objects (items, records, answers) and paid ~2.6 ms of its ~18 ms in
# collections at 700; at 10,000 it pays ~0.3 ms (bench/predict_bench.py, batch p50).
YOUNG_GC_THRESHOLD = 10_000


def settle_heap() -> None:
    """After init: keep what init built out of the cyclic GC's reach, and collect the young less often.

    Frozen, the modules, clients and model are never rescanned: full collections were predict's p99
    (bench/predict_bench.py) and ~0.1 s of a drift window's day through the lake (bench/window_bench.py).
    """
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)
