"""Challenger models for tests: the shipped model's trees with other leaf values, under another version."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from creditwatch_model import CreditModel


def challenger_of(
    model: CreditModel, version: str = "challenger-1", power: float = 0.5, **metadata: Any
) -> CreditModel:
    """The model's forest with each leaf's P(good) raised to `power` (< 1: more approvals), as a model of its own."""
    forest = dataclasses.replace(model.forest, value=model.forest.value**power)
    meta = copy.deepcopy(model.metadata)
    meta["version"] = version
    meta.update(metadata)
    return CreditModel(meta, forest, cover=model.cover)
