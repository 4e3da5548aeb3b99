"""The model registry's shared contracts: its S3 layout, an alias move and the comparison evidence.

The registry bucket (template `ModelRegistryBucket`, env `MODEL_REGISTRY_BUCKET`) holds:
- `versions/<version>/`: a version's artifacts and `card.json`, written once, never changed;
- `aliases/<alias>.json`: the alias's current `AliasMove`;
- `alias-history/<alias>/<moved_at>-<version>.json`: every move of it;
- `evidence/<challenger_version>/<generated_at>-<report_id>.json`: a `ComparisonEvidence` from the compare job.
The CLI and the image jobs write it; the predict function and the PreTraffic hook only read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Alias = Literal["champion", "challenger"]
Verdict = Literal["promote", "hold", "reject"]

VERSIONS_PREFIX = "versions/"
ALIASES_PREFIX = "aliases/"
ALIAS_HISTORY_PREFIX = "alias-history/"
EVIDENCE_PREFIX = "evidence/"
CARD_FILE = "card.json"


def version_prefix(version: str) -> str:
    """Where a version's artifacts and card live."""
    return f"{VERSIONS_PREFIX}{version}/"


def alias_key(alias: Alias) -> str:
    """The object holding an alias's current move."""
    return f"{ALIASES_PREFIX}{alias}.json"


def evidence_prefix(challenger_version: str) -> str:
    """Where the comparisons of one challenger are kept, oldest first by key."""
    return f"{EVIDENCE_PREFIX}{challenger_version}/"


class AliasMove(BaseModel):
    """One move of an alias: who pointed it at which version, when, why, and on what evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: Alias
    version: str | None  # None: the alias was cleared (e.g. the challenger withdrawn)
    previous_version: str | None
    moved_by: str
    moved_at: datetime
    reason: str
    evidence_report_id: str | None = None
    forced: bool = False


class ComparisonEvidence(BaseModel):
    """What the compare job found for a challenger against the champion: a promotion and the canary's gate read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report_id: str
    generated_at: datetime
    champion_version: str
    challenger_version: str
    window_start: datetime
    window_end: datetime
    shadow_rows: int = Field(ge=0)
    score_psi: float | None
    approval_rate_champion: float | None
    approval_rate_challenger: float | None
    approval_rate_change: float | None  # challenger minus champion
    swap_rate: float | None  # share of shadow-scored applications whose decision differs between the two
    labelled_rows: int = Field(ge=0)
    auc_difference: float | None  # challenger minus champion, on matured outcomes scored by both
    verdict: Verdict
    reasons: list[str]
    # Added by the compare job: the AUC difference's paired 95% interval and the swap set's four counts.
    auc_difference_low: float | None = None
    auc_difference_high: float | None = None
    swap_set: dict[str, int] | None = None
