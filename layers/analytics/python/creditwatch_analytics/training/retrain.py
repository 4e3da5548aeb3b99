"""A challenger from a window's matured outcomes, trained and registered (`model train --challenger`, the retrain job).

Both read the window through the analytics engine they are given (creditwatch_analytics.lake.window.engine_for),
as the quality job reads a cohort. An erased record (`creditwatch log erase`) is gone from the table and the
lake, so no training set built after the erasure holds it; the card lists the prediction ids trained on and
held out.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from creditwatch_analytics.lake.source import WindowSource
from creditwatch_analytics.model_lifecycle import Refused, Registered, register_challenger
from creditwatch_analytics.training.challenger import Matured, matured_from_table, train_challenger
from creditwatch_analytics.training.data import build_schema, read_codes
from creditwatch_common.registry import ModelRegistry

# The most labelled predictions a window gives the training: above it, the engines' bottom-k sample of them.
MAX_LABELLED_ROWS = 2_000_000


class NothingToLearn(Refused):
    """The window holds no matured outcome: the challenger would be the original data's model again."""


def read_matured(source: WindowSource, start: datetime, end: datetime, max_rows: int = MAX_LABELLED_ROWS) -> Matured:
    """The window's scored predictions with their latest outcome (features as logged), through the engine given."""
    names = list(build_schema(read_codes()).names)
    frame = source.labelled(start, end, names, max_rows=max_rows)
    return matured_from_table(frame.table, start, end, frame.engine)


def retrain(registry: ModelRegistry, matured: Matured, *, created_by: str, why: str) -> Registered:
    """Train on the original data plus the matured outcomes, register the version and point `challenger` at it.

    Refused when the window has no matured outcome (NothingToLearn) or the version equals the champion's.
    """
    if matured.labelled.empty:
        raise NothingToLearn(
            f"no matured outcomes among the predictions of {_iso(matured.start)} .. {_iso(matured.end)} "
            f"({len(matured.frame)} scored): nothing new to learn from"
        )
    champion = registry.alias("champion")
    with tempfile.TemporaryDirectory(prefix="creditwatch-challenger-") as tmp:
        trained = train_challenger(
            matured, Path(tmp), created_by=created_by, why=why, parent_version=champion.version if champion else None
        )
        return register_challenger(registry, trained.card, Path(tmp), created_by, why)


def default_why(start: datetime, end: datetime) -> str:
    """The card's `why` when the caller gives none: the window trained on."""
    return f"trained on the outcomes matured for predictions of {start:%Y-%m-%d} .. {end:%Y-%m-%d}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
