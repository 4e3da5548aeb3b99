"""The bottom-k sample every engine takes: the k smallest (key, id), whatever order the rows arrive in."""

from __future__ import annotations

import random

from creditwatch_common.records import ScoredRow
from creditwatch_common.sampling import bottom_k, sample_key, sample_mask


def _row(prediction_id: str) -> ScoredRow:
    return ScoredRow(
        prediction_id=prediction_id, features={}, probability_good_credit=0.5, decision="approve", model_version="v"
    )


def test_equal_keys_keep_the_smallest_ids_whatever_order_the_rows_arrive_in() -> None:
    # Ids sharing their last 48 bits have equal keys: the lake keeps the smaller ids (ORDER BY key, id).
    tails = ["00000000000a", "00000000000b", "00000000000c"]
    ids = [f"0190{i:04x}-0000-7000-8000-{tail}" for i in range(40) for tail in tails]
    mask = sample_mask(3)
    want = sorted(ids, key=lambda pid: (sample_key(pid, mask), pid))[:50]
    for trial in range(20):
        rows = [_row(pid) for pid in ids]
        random.Random(trial).shuffle(rows)
        kept, seen, versions = bottom_k(rows, 50, seed=3)
        assert [r.prediction_id for r in kept] == want
        assert seen == 120 and versions == {"v": 120}


def test_fewer_rows_than_k_keeps_them_all_in_key_order() -> None:
    ids = [f"0190{i:04x}-0000-7000-8000-{random.Random(i).getrandbits(48):012x}" for i in range(30)]
    kept, seen, _ = bottom_k([_row(pid) for pid in ids], 100, seed=0)
    assert [r.prediction_id for r in kept] == sorted(ids, key=lambda pid: (sample_key(pid, sample_mask(0)), pid))
    assert seen == 30
