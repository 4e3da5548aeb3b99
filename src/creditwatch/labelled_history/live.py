"""Traffic of the simulated world now: applicants through the local predict function, booked loans' outcomes at once.

The labelled history writes the past; this sends the present through `/predict-batch` (the served champion
answers, the challenger alias is shadow-scored), draws each applicant's repayment from the world's truth
(the changed one after a concept change) and posts the outcomes of the loans the answer booked through
`POST /outcomes`, observed now: time compressed, as a demo needs, where a lender waits 30-60 days. Refused
applicants get no outcome, as in the history (`outcomes="approved"`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from creditwatch.labelled_history.plan import HistoryError
from creditwatch.labelled_history.run import OUTCOME_ATTEMPTS, Poster
from creditwatch.labelled_history.truth import World, recombine
from creditwatch_common.ids import iso_millis

# A route and a JSON body in, (status, latency ms, answer) out: creditwatch.simulate.local_handler's call.
Call = Callable[[str, str], tuple[int, float, dict[str, Any]]]
BATCH = 500


@dataclass
class LiveResult:
    """What the traffic did: answers by model and decision, the outcomes posted and what they say."""

    sent: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    model_versions: Counter[str] = field(default_factory=Counter)
    outcomes_posted: int = 0
    bad_booked: int = 0
    outcome_statuses: Counter[str] = field(default_factory=Counter)
    started: datetime | None = None
    ended: datetime | None = None

    @property
    def approval_rate(self) -> float | None:
        """Share of the answers that approve."""
        return self.decisions["approve"] / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        """Plain summary."""
        return {
            "sent": self.sent,
            "decisions": dict(self.decisions),
            "model_versions": dict(self.model_versions),
            "approval_rate": self.approval_rate,
            "outcomes_posted": self.outcomes_posted,
            "bad_rate_booked": round(self.bad_booked / self.outcomes_posted, 4) if self.outcomes_posted else None,
            "outcome_statuses": dict(self.outcome_statuses),
        }


def send_live(
    world: World,
    call: Call,
    poster: Poster,
    *,
    applications: int,
    seed: int,
    changed: bool = True,
    coverage: float = 0.85,
    min_outcomes: int = 0,
    max_applications: int = 100_000,
    batch: int = BATCH,
) -> LiveResult:
    """Send `applications` (more, in batches, until `min_outcomes` are posted or `max_applications` sent).

    The same seed draws the same applicants and repayments; whether an outcome exists follows the answer.
    """
    rng = np.random.default_rng([seed, 24])
    truth = world.changed_truth if changed else world.truth
    result = LiveResult(started=datetime.now(UTC))
    ceiling = max(applications, max_applications)
    while result.sent < applications or (result.outcomes_posted < min_outcomes and result.sent < ceiling):
        n = min(batch, (applications if result.sent < applications else ceiling) - result.sent)
        apps = recombine(world.base, n, rng)
        bad = rng.random(n) < truth.bad_probability(apps)
        reported = rng.random(n) < coverage
        status, _, body = call("/predict-batch", json.dumps({"applications": apps, "explain": False}))
        if status != 200:
            raise HistoryError(f"POST /predict-batch answered {status}: {str(body)[:300]}")
        items = []
        for answer, is_bad, seen in zip(body["predictions"], bad, reported, strict=True):
            result.decisions[answer["decision"]] += 1
            result.model_versions[answer["model_version"]] += 1
            if answer["decision"] == "approve" and seen:
                items.append({"prediction_id": answer["prediction_id"], "outcome": "bad" if is_bad else "good"})
                result.bad_booked += bool(is_bad)
        result.sent += n
        _post(poster, items, result)
    result.ended = datetime.now(UTC)
    return result


def _post(poster: Poster, items: list[dict[str, Any]], result: LiveResult) -> None:
    if not items:
        return
    # Observed now: never before the prediction it is about.
    observed = iso_millis(math.ceil(datetime.now(UTC).timestamp() * 1000))
    chunk = [{**item, "observed_at": observed} for item in items]
    for _ in range(OUTCOME_ATTEMPTS):
        status, body = poster(chunk)
        if status != 503:
            break
    if status != 200:
        raise HistoryError(f"POST /outcomes answered {status}: {str(body)[:300]}")
    result.outcomes_posted += len(chunk)
    result.outcome_statuses.update(body.get("counts", {}))
