"""Champion and challenger: register, shadow, promote (on evidence) and roll back, through a ModelRegistry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from creditwatch_common.model_card import ModelCard
from creditwatch_common.model_registry import AliasMove, ComparisonEvidence
from creditwatch_common.registry import ModelRegistry, RegistryError, VersionExists


class Refused(RegistryError):
    """The registry would allow it, the lifecycle's rules do not (no evidence, an equal challenger, ...)."""


@dataclass(frozen=True)
class Registered:
    """What registering a trained challenger did."""

    card: ModelCard
    new: bool  # False: that version was registered already (same inputs, same version)
    move: AliasMove | None  # the challenger alias's move, None when it already named the version
    champion: str | None = None  # the champion's version when it was registered


def bootstrap_champion(
    registry: ModelRegistry, card: ModelCard, artifacts_dir: Path, moved_by: str
) -> AliasMove | None:
    """The layer's model as the first champion, when the registry has none (None: it had one)."""
    if registry.alias("champion") is not None:
        return None
    if card.version not in registry.versions():
        registry.register(card, artifacts_dir)
    return registry.move_alias(
        "champion", card.version, moved_by=moved_by, reason="the model the layer ships: first champion"
    )


def register_challenger(
    registry: ModelRegistry, card: ModelCard, artifacts_dir: Path, moved_by: str, reason: str
) -> Registered:
    """Register a trained version (refused if it equals the champion) and point `challenger` at it."""
    champion = registry.alias("champion")
    if champion is not None and champion.version == card.version:
        raise Refused(
            f"the challenger equals the champion (version {card.version}): the matured outcomes did not change the "
            "model; nothing registered"
        )
    try:
        final, new = registry.register(card, artifacts_dir), True
    except VersionExists:
        final, new = registry.card(card.version), False
    current = registry.alias("challenger")
    named = champion.version if champion is not None else None
    if current is not None and current.version == card.version:
        return Registered(final, new, None, named)
    move = registry.move_alias("challenger", card.version, moved_by=moved_by, reason=reason)
    return Registered(final, new, move, named)


def shadow(registry: ModelRegistry, version: str, moved_by: str, reason: str) -> AliasMove:
    """Point `challenger` at a version: its move time is the shadow start promotions are judged from."""
    champion = registry.alias("champion")
    registry.card(version)
    if champion is not None and champion.version == version:
        raise Refused(f"version {version} is the champion: a challenger must differ from it")
    return registry.move_alias("challenger", version, moved_by=moved_by, reason=reason)


def shadow_start(registry: ModelRegistry, version: str) -> datetime | None:
    """When `challenger` last came to name this version (None: never shadowed)."""
    starts = [m.moved_at for m in registry.alias_history("challenger") if m.version == version]
    return starts[-1] if starts else None


def promotion_evidence(registry: ModelRegistry, version: str) -> tuple[datetime | None, ComparisonEvidence | None]:
    """The version's shadow start and the newest comparison of it made after that start (or None)."""
    start = shadow_start(registry, version)
    evidence = registry.latest_evidence(version)
    if start is None or evidence is None or evidence.generated_at <= start:
        return start, None
    return start, evidence


def promote(registry: ModelRegistry, version: str, moved_by: str, reason: str, force: bool = False) -> AliasMove:
    """Move `champion` to a version on a comparison newer than its shadow start (or, forced, without one).

    A comparison whose verdict is `reject` refuses too, unless forced. The challenger alias is cleared when
    it named the version promoted (it would shadow the champion with itself).
    """
    registry.card(version)
    champion = registry.alias("champion")
    if champion is not None and champion.version == version:
        raise Refused(f"version {version} is the champion already")
    start, evidence = promotion_evidence(registry, version)
    if not force:
        if start is None:
            raise Refused(
                f"version {version} was never shadowed: creditwatch model shadow {version}, compare, then promote "
                "(or --force with a reason)"
            )
        if evidence is None:
            raise Refused(
                f"no comparison of version {version} newer than its shadow start {start:%Y-%m-%dT%H:%M:%SZ}: run "
                "creditwatch model compare (or --force with a reason)"
            )
        if evidence.verdict == "reject":
            raise Refused(
                f"the comparison {evidence.report_id} rejects version {version} ({'; '.join(evidence.reasons)[:200]}): "
                "not promoted (--force with a reason overrides)"
            )
    move = registry.move_alias(
        "champion",
        version,
        moved_by=moved_by,
        reason=reason,
        evidence_report_id=evidence.report_id if evidence else None,
        forced=force,
    )
    challenger = registry.alias("challenger")
    if challenger is not None and challenger.version == version:
        registry.move_alias("challenger", None, moved_by=moved_by, reason=f"promoted to champion: {reason}")
    return move


def rollback(registry: ModelRegistry, moved_by: str, reason: str) -> AliasMove:
    """Move `champion` back to the version it named before its last move."""
    current = registry.alias("champion")
    if current is None or current.previous_version is None:
        raise Refused("no previous champion to roll back to (creditwatch model list shows the champion's history)")
    return registry.move_alias("champion", current.previous_version, moved_by=moved_by, reason=reason)
