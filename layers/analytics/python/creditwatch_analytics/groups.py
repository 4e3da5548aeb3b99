"""The protected groups every analytics job judges fairness by: sex, age band and foreign worker."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditwatch_analytics.lake.sql import GroupSpec

CONFIDENCE = 0.95
# German Credit's personal_status_and_sex codes: A91, A93, A94 male; A92, A95 female.
SEX = {"A91": "male", "A93": "male", "A94": "male", "A92": "female", "A95": "female"}
FOREIGN_WORKER = {"A201": "foreign worker", "A202": "not a foreign worker"}
ATTRIBUTES = ("sex", "age", "foreign_worker")


def age_band_labels(cuts: Sequence[int]) -> list[str]:
    """Readable bands for the cut points: [25] gives 'under 25', '25 and over'."""
    if not cuts:
        return ["all ages"]
    inner = [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(cuts)]
    return [f"under {cuts[0]}", *inner, f"{cuts[-1]} and over"]


def age_bands(ages: pd.Series, cuts: Sequence[int]) -> pd.Series:
    """Each age's band (a cut point starts the band above it); missing ages stay missing."""
    edges = [-np.inf, *cuts, np.inf]
    bands = pd.cut(pd.to_numeric(ages, errors="coerce"), bins=edges, right=False, labels=age_band_labels(cuts))
    return bands.astype("object").where(bands.notna(), None)


def protected_groups(frame: pd.DataFrame, age_cuts: Sequence[int]) -> dict[str, pd.Series]:
    """Every row's group for each protected attribute (None where the code is missing or unknown)."""
    return {
        "sex": frame["personal_status_and_sex"].map(SEX),
        "age": age_bands(frame["age_in_years"], age_cuts),
        "foreign_worker": frame["foreign_worker"].map(FOREIGN_WORKER),
    }


def group_specs(age_cuts: Sequence[int]) -> tuple[GroupSpec, ...]:
    """The protected attributes as the window engines count them (lake.sql), in ATTRIBUTES order."""
    return (
        GroupSpec("sex", "personal_status_and_sex", mapping=tuple(SEX.items())),
        GroupSpec("age", "age_in_years", cuts=tuple(age_cuts), labels=tuple(age_band_labels(age_cuts))),
        GroupSpec("foreign_worker", "foreign_worker", mapping=tuple(FOREIGN_WORKER.items())),
    )
