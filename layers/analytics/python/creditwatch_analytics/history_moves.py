"""The champion's moves for the report history: read from the registry's alias history when the index is rebuilt.

The registry (`alias-history/champion/`, creditwatch_common.registry) is the one record of who moved the
champion, when and why; the history page reads it at each rebuild rather than keeping a copy, so a move
shows on the next index whichever way it was made, and an unreadable registry costs the marks, never the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from creditwatch_common.model_registry import AliasMove
from creditwatch_common.registry import ModelRegistry, RegistryError

MoveKind = Literal["first", "promotion", "rollback", "cleared"]
# Mark colours on the charts (and the list's badges): a promotion, a rollback, the first champion.
# Characters of the reason a mark shows on the chart (its half of the plot holds ~50 at 10 px).
CAPTION_REASON = 22
MOVE_COLORS: dict[str, str] = {"promotion": "#2a7d2a", "rollback": "#b2182b", "first": "#6b6b6b", "cleared": "#6b6b6b"}


@dataclass(frozen=True)
class ChampionMove:
    """One move of the champion alias as the history page shows it."""

    at: datetime
    kind: MoveKind
    version: str | None
    previous_version: str | None
    moved_by: str
    reason: str
    forced: bool = False
    evidence_report_id: str | None = None

    @property
    def label(self) -> str:
        """What the chart's mark says: the kind and the version served from then on."""
        word = {"first": "first champion", "promotion": "promoted", "rollback": "rolled back to", "cleared": "cleared"}
        return f"{word[self.kind]} {self.version or ''}".strip()

    @property
    def caption(self) -> str:
        """The mark's visible text: the label and the reason, cut short (the tooltip and the list hold it whole)."""
        reason = self.reason if len(self.reason) <= CAPTION_REASON else self.reason[: CAPTION_REASON - 1] + "…"
        return f"{self.label}: {reason}" if reason else self.label

    @property
    def color(self) -> str:
        """The mark's colour."""
        return MOVE_COLORS[self.kind]

    @property
    def tip(self) -> str:
        """The mark's tooltip: who moved it from what, when, why, on what evidence."""
        came = f" (from {self.previous_version})" if self.previous_version else ""
        evidence = f"; evidence {self.evidence_report_id}" if self.evidence_report_id else ""
        forced = "; forced without evidence" if self.forced else ""
        return (
            f"champion {self.label}{came} · {self.at:%Y-%m-%d %H:%M} UTC by {self.moved_by} · "
            f"reason: {self.reason}{evidence}{forced}"
        )


@dataclass(frozen=True)
class ChampionMoves:
    """The champion's moves, oldest first, and why none could be read (None: read)."""

    moves: list[ChampionMove] = field(default_factory=list)
    unavailable: str | None = None


def champion_moves(history: Sequence[AliasMove]) -> list[ChampionMove]:
    """Each move of the champion, oldest first, named by what it did.

    A rollback returns the champion to the version the move before it replaced (what `creditwatch model
    rollback` does; a promotion back to that version is the same move, so it is named alike).
    """
    out: list[ChampionMove] = []
    ordered = sorted(history, key=lambda m: m.moved_at)
    for i, move in enumerate(ordered):
        before = ordered[i - 1] if i else None
        kind: MoveKind
        if move.version is None:
            kind = "cleared"
        elif move.previous_version is None:
            kind = "first"
        elif before is not None and before.previous_version == move.version:
            kind = "rollback"
        else:
            kind = "promotion"
        out.append(
            ChampionMove(
                at=move.moved_at.astimezone(UTC),
                kind=kind,
                version=move.version,
                previous_version=move.previous_version,
                moved_by=move.moved_by,
                reason=move.reason,
                forced=move.forced,
                evidence_report_id=move.evidence_report_id,
            )
        )
    return out


def read_champion_moves(s3: Any, bucket: str) -> ChampionMoves:
    """The champion's moves in the registry bucket; an unreadable registry says why, and the page goes on without."""
    try:
        return ChampionMoves(champion_moves(ModelRegistry(s3, bucket).alias_history("champion")))
    except RegistryError as exc:
        return ChampionMoves(unavailable=f"champion moves not shown: {exc}")
