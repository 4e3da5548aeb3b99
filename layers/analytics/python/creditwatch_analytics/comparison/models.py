"""The comparison's typed results: what the compare job writes (summary JSON), the CLI prints and the history keeps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from creditwatch_common.model_registry import Verdict


class Estimate(BaseModel):
    """A figure with its 95% interval (None where undefined)."""

    value: float | None = None
    low: float | None = None
    high: float | None = None


class SwapSet(BaseModel):
    """Shadow-scored applications by the two decisions: the four cells add up to the scored applications."""

    both: int = 0
    champion_only: int = 0
    challenger_only: int = 0
    neither: int = 0

    @property
    def total(self) -> int:
        """Applications scored by both models."""
        return self.both + self.champion_only + self.challenger_only + self.neither


class Side(BaseModel):
    """One model on the shadow rows: its approval rate and the mix of its refusals' first reasons."""

    version: str
    approval_rate: float | None = None
    mean_probability: float | None = None
    # Share of each first reason among the refusals that have one (explained answers), largest first.
    first_reasons: dict[str, float] = {}
    refusals_with_reason: int = 0


class GroupFairness(BaseModel):
    """One protected attribute's disparate impact under each model (lowest judged group's rate / highest's)."""

    attribute: str
    judged: bool
    note: str | None = None
    groups: dict[str, int] = {}  # rows per group
    champion: Estimate = Estimate()
    challenger: Estimate = Estimate()
    difference: Estimate = Estimate()  # challenger minus champion, paired
    champion_pair: tuple[str, str] | None = None  # (lowest, highest) group under the champion
    challenger_pair: tuple[str, str] | None = None


class RealizedComparison(BaseModel):
    """Both models on the matured outcomes of applications they both scored (paired bootstrap intervals)."""

    rows: int = 0
    bad_rows: int = 0
    champion: dict[str, Estimate] = {}
    challenger: dict[str, Estimate] = {}
    difference: dict[str, Estimate] = {}  # challenger minus champion: auc, expected_cost, bad_rate_approved


class DayPoint(BaseModel):
    """One day of shadow traffic: both models' approval rates and mean P(good)."""

    day: str
    rows: int
    approval_rate_champion: float
    approval_rate_challenger: float
    mean_probability_champion: float
    mean_probability_challenger: float


class Rule(BaseModel):
    """The verdict's thresholds (docs/operate.md, "Champion against challenger")."""

    min_shadow_rows: int = Field(500, ge=1)
    min_labelled_rows: int = Field(200, ge=1)
    max_approval_change: float = Field(0.10, gt=0, le=1)
    fairness_tolerance: float = Field(0.0, ge=0, le=1)
    resamples: int = Field(1000, ge=100)
    seed: int = 0


class ComparisonFigures(BaseModel):
    """Everything the comparison computed, before publishing."""

    champion_version: str
    challenger_version: str
    shadow_rows: int
    shadow_misses: int = 0  # records marked with the challenger's version that it did not score
    score_psi: float | None = None
    swap_set: SwapSet = SwapSet()
    approval_rate: dict[str, float | None] = {}  # by role: champion, challenger
    approval_rate_change: Estimate = Estimate()  # challenger minus champion
    champion: Side
    challenger: Side
    fairness: list[GroupFairness] = []
    realized: RealizedComparison = RealizedComparison()
    days: list[DayPoint] = []
    verdict: Verdict = "hold"
    reasons: list[str] = []


class ComparisonSummary(BaseModel):
    """One compare run: the figures, the window, where the report is, and what was sent."""

    kind: Literal["comparison"] = "comparison"
    status: Literal["ok", "no_data", "error", "invalid_event"] = "ok"
    message: str = ""
    error: str | None = None
    generated_at: str
    environment: str = "dev"
    window_start: str
    window_end: str
    engine: str | None = None
    rows_read: int = 0
    sampled: bool = False
    rule: Rule = Rule()
    figures: ComparisonFigures | None = None
    # Flattened for readers of the JSON (the CLI's --json, the history): the same values as in figures.
    verdict: Verdict | None = None
    champion_version: str | None = None
    challenger_version: str | None = None
    swap_set: SwapSet | None = None
    approval_rate: dict[str, float | None] = {}
    report_id: str | None = None
    run_id: str | None = None
    report_html_key: str | None = None
    summary_key: str | None = None
    evidence_key: str | None = None
    report_url: str | None = None
    report_url_expires_at: str | None = None
    report_url_signed_by: str | None = None
    index_url: str | None = None
    written_at: str | None = None
    history_updated: bool | None = None
    notified: bool = False
    warnings: list[str] = []
