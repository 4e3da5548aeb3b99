"""The earlier name of creditwatch_analytics.model_lifecycle, for src/creditwatch/demo_loop.py (owned elsewhere)."""

from creditwatch_analytics.model_lifecycle import (
    Refused,
    Registered,
    bootstrap_champion,
    promote,
    promotion_evidence,
    register_challenger,
    rollback,
    shadow,
    shadow_start,
)

__all__ = [
    "Refused",
    "Registered",
    "bootstrap_champion",
    "promote",
    "promotion_evidence",
    "register_challenger",
    "rollback",
    "shadow",
    "shadow_start",
]
