"""Referral: which scored applications a person must see, and their cases put on the review queue.

Four rules, each off at 0 (template parameters ReviewBand, ReviewOutOfRange, ReviewNovelty, ReviewAuditShare):
  - band: P(good) within `band` of the decision threshold, where the model is least sure;
  - out_of_range: a number outside the range the training split held, or a code it never held
    (the model was never shown such an applicant; the ranges come from the reference sample shipped
    with the model, which is its training split);
  - novelty: the application's distance from the training data (creditwatch_model.novelty, fitted at
    training and shipped with the model as novelty.npz) above its bound times `novelty` (1: the bound as
    shipped, about 1% of training-like applications; above 1, fewer): unusual as a whole, each value in range;
  - audit: a random share of every decision (drawn from a hash of the application's values, so the same
    application always gets the same answer), which measures the reviewers' agreement where the model is sure.
The answer still carries the model's decision (`model_decision`); the log record keeps it as `decision`,
so drift, quality and fairness judge the model, and the final decision arrives with the review.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditwatch_common.ids import iso_millis, uuid7, uuid7_millis
from creditwatch_common.log.reviews import ReviewStore, ReviewUnavailable
from creditwatch_common.review import ReferralRule, ReviewCase, audit_draw
from creditwatch_model import REFERENCE_FILE, CreditModel
from creditwatch_model.novelty import NOVELTY_FILE, Novelty
from creditwatch_predict.middleware import RequestLog
from creditwatch_predict.service import ScoredApplication


@dataclass(frozen=True)
class TrainingRanges:
    """What the training split held: each number's [min, max], each category's codes."""

    numbers: dict[str, tuple[float, float]]
    codes: dict[str, frozenset[str]]

    @classmethod
    def from_reference(cls, model: CreditModel, path: Path) -> TrainingRanges:
        """From the reference sample (the training split) shipped beside the model."""
        numbers: dict[str, tuple[float, float]] = {}
        codes: dict[str, set[str]] = {}
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                for f in model.schema.features:
                    value = row[f.name]
                    if f.is_categorical:
                        codes.setdefault(f.name, set()).add(value)
                    else:
                        x = float(value)
                        lo, hi = numbers.get(f.name, (x, x))
                        numbers[f.name] = (min(lo, x), max(hi, x))
        return cls(numbers, {k: frozenset(v) for k, v in codes.items()})

    def outside(self, features: dict[str, Any]) -> list[str]:
        """The features whose value the training split never held."""
        out = [n for n, (lo, hi) in self.numbers.items() if not lo <= float(features[n]) <= hi]
        out += [n for n, seen in self.codes.items() if str(features[n]) not in seen]
        return out


@dataclass(frozen=True)
class ReferralRules:
    """The four rules as the template sets them; `rules` of an application say which referred it."""

    threshold: float
    band: float = 0.0
    ranges: TrainingRanges | None = None
    audit_share: float = 0.0
    novelty: Novelty | None = None
    # The distance above which the novelty rule refers: the shipped bound times ReviewNovelty.
    novelty_above: float = 0.0

    @classmethod
    def for_model(
        cls, model: CreditModel, band: float, out_of_range: bool, audit_share: float, novelty: float = 0.0
    ) -> ReferralRules:
        """The rules around a model's threshold (its reference sample and novelty bound read only if on)."""
        from creditwatch_model import model_dir

        ranges = TrainingRanges.from_reference(model, model_dir() / REFERENCE_FILE) if out_of_range else None
        fitted = Novelty.load(model_dir() / NOVELTY_FILE, model.schema) if novelty > 0 else None
        return cls(
            threshold=model.threshold,
            band=band,
            ranges=ranges,
            audit_share=audit_share,
            novelty=fitted,
            novelty_above=fitted.bound * novelty if fitted is not None else 0.0,
        )

    @property
    def active(self) -> bool:
        """Whether any rule can refer."""
        return self.band > 0 or self.ranges is not None or self.novelty is not None or self.audit_share > 0

    def rules(self, features: dict[str, Any], p_good: float, prediction_id: str) -> list[ReferralRule]:
        """Which rules refer this application (empty: the model's decision is the answer)."""
        return self.referred([features], [p_good])[0]

    def referred(self, features: Sequence[dict[str, Any]], p_good: Sequence[float]) -> list[list[ReferralRule]]:
        """Which rules refer each application, in rule order: a batch's novelty distances in one product."""
        out: list[list[ReferralRule]] = [[] for _ in features]
        if self.band > 0:
            for rules, p in zip(out, p_good, strict=True):
                if abs(p - self.threshold) <= self.band:
                    rules.append("band")
        if self.ranges is not None:
            for rules, f in zip(out, features, strict=True):
                if self.ranges.outside(f):
                    rules.append("out_of_range")
        if self.novelty is not None:
            for rules, score in zip(out, self.novelty.scores(features).tolist(), strict=True):
                if score > self.novelty_above:
                    rules.append("novelty")
        if self.audit_share > 0:
            for rules, f in zip(out, features, strict=True):
                if audit_draw(f) < self.audit_share:
                    rules.append("audit")
        return out


@dataclass
class Referrals:
    """Applies the rules to scored applications and queues the referred ones' cases."""

    rules: ReferralRules
    store: ReviewStore
    model_version: str
    # The longest the queue write may hold an answer: one attempt of its clients (connect + read timeouts)
    # and a moment for a second after a fast failure; the app sets it from the settings.
    budget_s: float = 3.5
    on_not_queued: Callable[[list[ReviewCase]], None] | None = None

    def refer(self, scored: Sequence[ScoredApplication], entry: RequestLog) -> None:
        """Mark the referred applications (their answers say refer) and queue their cases, by the entry's deadline."""
        if not self.rules.active:
            return
        cases = []
        referred = self.rules.referred([s.features for s in scored], [s.score.probability_good_credit for s in scored])
        for s, rules in zip(scored, referred, strict=True):
            if not rules:
                continue
            s.case_id, s.referral = uuid7(), list(rules)
            cases.append(
                ReviewCase(
                    case_id=s.case_id,
                    prediction_id=s.prediction_id,
                    created_at=iso_millis(uuid7_millis(s.prediction_id)),
                    model_decision=s.score.decision,  # type: ignore[arg-type]
                    probability_good_credit=s.score.probability_good_credit,
                    model_version=self.model_version,
                    referral=rules,
                )
            )
        entry.referred = len(cases)
        if not cases:
            return
        # A share of an answer's time budget at most: the queue must not hold the applicant's answer.
        deadline = min(entry.deadline, time.monotonic() + self.budget_s)
        try:
            self.store.enqueue(cases, deadline)
        except ReviewUnavailable:
            # The answer stands (refer); the cases are kept whole in the function's log, as the log
            # writer's last resort keeps a record, and the record itself names its case (case_id, referral).
            entry.not_queued = len(cases)
            if self.on_not_queued is not None:
                self.on_not_queued(cases)
