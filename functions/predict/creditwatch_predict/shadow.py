"""Shadow scoring: each scored application also scored by a challenger, for the log only, within a time budget.

The champion's answer is built before the challenger runs (the request log middleware calls `score`
once the route has answered) and nothing of the challenger reaches it. The challenger's first reason
comes from its path attribution (creditwatch_model.paths: the leaves an application reaches give its
P(good), and their sums its contributions), for the applications whose champion answer was explained and
that the challenger refuses: the same rows on which the log has the champion's reasons, at a fraction of
TreeSHAP's cost (the contributions of the others are never computed).

Bounds: a batch is scored in chunks and the next chunk starts only within the budget, so a request waits
at most the budget plus one chunk; a request over the budget pauses the challenger for `pause_s`, whose
requests are logged with the challenger's version and no answer. Every application the challenger did not
score (an error, over the budget, paused, or a challenger that could not be prepared) is counted
(`ShadowFailures`), and the answer is never changed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from creditwatch_model import CreditModel
from creditwatch_predict.service import ScoredApplication

# Rows per chunk: the forest's own block size, so a chunk costs what a block of the champion's costs.
CHUNK_ROWS = 256


@dataclass(frozen=True)
class ShadowMiss:
    """What the challenger did not score in one request, and why."""

    applications: int
    reason: str


class ShadowScorer:
    """Scores applications with the challenger after the champion answered; counts what it could not score."""

    def __init__(
        self,
        model: CreditModel,
        *,
        budget_s: float,
        pause_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.version = model.version
        self.budget_s = budget_s
        self.pause_s = pause_s
        self.clock = clock
        self.paused_until = -math.inf
        # Prepared here, during init: no request pays for it. A challenger that cannot be prepared is kept
        # as broken (every application counted as missed) rather than failing the function's init.
        self.broken: str | None = None
        try:
            from creditwatch_model.paths import path_attribution

            self.paths = path_attribution(model)
            self.threshold = model.threshold
        except Exception as exc:  # noqa: BLE001 - the champion serves whatever the challenger's artifacts hold
            self.broken = f"challenger not prepared: {type(exc).__name__}: {exc}"

    def score(self, scored: Sequence[ScoredApplication]) -> ShadowMiss | None:
        """Set each application's challenger answer; what was not scored (None when every one was)."""
        n = len(scored)
        if self.broken is not None:
            return ShadowMiss(n, self.broken)
        started = self.clock()
        if started < self.paused_until:
            return ShadowMiss(n, "paused after a request over the shadow budget")
        done, reason = 0, None
        try:
            while done < n:
                if done and self.clock() - started > self.budget_s:
                    reason = "over the shadow budget"
                    break
                chunk = scored[done : done + CHUNK_ROWS]
                self._score_chunk(chunk)
                done += len(chunk)
        except Exception as exc:  # noqa: BLE001 - a failing challenger never fails the request
            reason = f"{type(exc).__name__}: {exc}"
        if self.clock() - started > self.budget_s:
            self.paused_until = self.clock() + self.pause_s
            reason = reason or "over the shadow budget (scored; challenger paused)"
        if done < n:
            return ShadowMiss(n - done, reason or "not scored")
        return ShadowMiss(0, reason) if reason else None

    def _score_chunk(self, chunk: Sequence[ScoredApplication]) -> None:
        x = self.model.encode([s.features for s in chunk])
        reasons: list[str | None] = [None] * len(chunk)
        # The champion's reasons are logged only for explained answers: the challenger's first reason too,
        # and only for the applications it refuses (the others' are never logged).
        if chunk[0].contributions is not None:
            leaves = self.paths.leaves(x)
            p = self.paths.probabilities(leaves)
            refused = np.flatnonzero(p < self.threshold)
            if refused.size:
                first = self.paths.first_reasons(self.paths.contributions(leaves[refused]))
                for i, reason in zip(refused.tolist(), first, strict=True):
                    reasons[i] = reason
        else:
            p = self.model.forest.predict_good(x)
        threshold = self.threshold
        answers = []
        for q, reason in zip(p.tolist(), reasons, strict=True):
            approve = q >= threshold
            answers.append((q, "approve" if approve else "refuse", reason))
        # Set only once the whole chunk is scored: a failure leaves no application half-answered.
        for s, answer in zip(chunk, answers, strict=True):
            s.challenger = answer


class ShadowSource:
    """The scorer of the challenger of the moment: the model provider's (the registry's alias or pin), or a fixed one.

    One scorer per challenger version, prepared on first use and kept (its pause and budget state with it).
    A challenger equal to the champion shadows nothing.
    """

    def __init__(
        self,
        champion: Callable[[], CreditModel],
        challenger: Callable[[], CreditModel | None],
        *,
        budget_s: float,
        pause_s: float,
        on_broken: Callable[[ShadowScorer], None] | None = None,
    ) -> None:
        self.champion = champion
        self.challenger = challenger
        self.budget_s = budget_s
        self.pause_s = pause_s
        self.on_broken = on_broken
        self._scorers: dict[str, ShadowScorer] = {}

    def current(self) -> ShadowScorer | None:
        """The scorer of the current challenger (None: none set, or it is the champion)."""
        model = self.challenger()
        if model is None or model.version == self.champion().version:
            return None
        scorer = self._scorers.get(model.version)
        if scorer is None or scorer.model is not model:
            scorer = self._scorers[model.version] = ShadowScorer(model, budget_s=self.budget_s, pause_s=self.pause_s)
            if scorer.broken and self.on_broken is not None:
                self.on_broken(scorer)
        return scorer
