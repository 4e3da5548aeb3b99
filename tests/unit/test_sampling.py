"""The bottom-k rule in Python: the k smallest (sample key, id), whatever order the rows arrive in."""

from __future__ import annotations

import random

from creditwatch_analytics.sampling import bottom_k, sample_key, sample_mask
from creditwatch_common.records import ScoredRow


def _row(prediction_id: str, version: str = "v") -> ScoredRow:
    return ScoredRow(
        prediction_id=prediction_id, features={}, probability_good_credit=0.5, decision="approve", model_version=version
    )


def equal_key_ids(n: int) -> list[str]:
    """UUIDv7-shaped ids in groups of three sharing their last 48 bits: equal sample keys for every seed."""
    tails = [f"{random.Random(i).getrandbits(48):012x}" for i in range(n // 3)]
    return [f"0190{j:04x}-0000-7000-8000-{tail}" for j in range(3) for tail in tails]


def test_a_permutation_of_the_rows_equal_keys_included_keeps_the_same_rows_in_the_same_order() -> None:
    ids = equal_key_ids(900)
    mask = sample_mask(3)
    want = sorted(ids, key=lambda pid: (sample_key(pid, mask), pid))[:100]
    # The cut falls inside a group of equal keys: which of them stay is decided by the id alone.
    assert sample_key(want[-1], mask) == sample_key(sorted(ids, key=lambda p: (sample_key(p, mask), p))[100], mask)
    for trial in range(20):
        rows = [_row(pid, "v1" if i % 3 else "v2") for i, pid in enumerate(ids)]
        random.Random(trial).shuffle(rows)
        kept, seen, versions = bottom_k(rows, 100, seed=3)
        assert [r.prediction_id for r in kept] == want
        assert seen == 900 and versions == {"v1": 600, "v2": 300}


def test_fewer_rows_than_k_keeps_them_all_in_sample_order() -> None:
    ids = equal_key_ids(30)
    kept, seen, _ = bottom_k([_row(pid) for pid in reversed(ids)], 100, seed=0)
    assert [r.prediction_id for r in kept] == sorted(ids, key=lambda pid: (sample_key(pid, sample_mask(0)), pid))
    assert seen == 30
