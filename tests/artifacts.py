"""What a regenerated model artifact must share with the committed one, on any CPU (README: same data, same bytes).

- JSON (metadata, calibration, psi_bins): the same bytes; every float is written with 12 significant digits.
- .npz (forest, explain): the same arrays, element for element (the zip container's bytes depend on zlib).
- CSV (reference, reference_contributions): the same rows and text columns; float columns within FLOAT_TOLERANCE,
  since a value computed by BLAS may differ in its last bit on another CPU and so round the other way.

Tests import it as `from artifacts import ...` (tests/ is on sys.path, as for faults.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FLOAT_TOLERANCE = 1e-9


def assert_same_artifact(fresh: Path, committed: Path) -> None:
    """Fail unless `fresh` keeps the promise its kind of artifact makes about `committed`."""
    if fresh.suffix == ".json":
        assert fresh.read_bytes() == committed.read_bytes(), fresh.name
    elif fresh.suffix == ".npz":
        with np.load(fresh, allow_pickle=False) as a, np.load(committed, allow_pickle=False) as b:
            assert sorted(a.files) == sorted(b.files), fresh.name
            for key in a.files:
                assert a[key].dtype == b[key].dtype, f"{fresh.name}:{key}"
                assert np.array_equal(a[key], b[key], equal_nan=True), f"{fresh.name}:{key}"
    elif fresh.suffix == ".csv":
        a = pd.read_csv(fresh, dtype=str, keep_default_na=False)
        b = pd.read_csv(committed, dtype=str, keep_default_na=False)
        assert list(a.columns) == list(b.columns) and len(a) == len(b), fresh.name
        for column in a.columns:
            left, right = pd.to_numeric(a[column], errors="coerce"), pd.to_numeric(b[column], errors="coerce")
            exact = a[column].str.fullmatch(r"-?\d+") | left.isna()
            assert a[column][exact].equals(b[column][exact]), f"{fresh.name}:{column}"
            gap = np.abs(left[~exact].to_numpy(float) - right[~exact].to_numpy(float))
            assert not gap.size or gap.max() <= FLOAT_TOLERANCE, f"{fresh.name}:{column} off by {gap.max()}"
    else:
        raise AssertionError(f"{fresh.name}: no cross-CPU promise for this kind of artifact")
