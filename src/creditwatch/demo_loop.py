"""The demo's closing loop: after the quality alert, a challenger trained, shadowed, compared, promoted, judged again.

- the challenger is trained as `creditwatch model train --challenger --start --end` does (in this process):
  the original data plus the outcomes matured for the history's predictions up to the degraded cohort's
  end, registered as `challenger`;
- new applicants of the changed world go through the local predict function (`/predict-batch`): the
  champion answers, the challenger is shadow-scored; the booked loans' outcomes are posted at once
  (creditwatch.labelled_history.live: the demo compresses the lender's 30-60 days);
- the compare job judges the two on that window (swap set, AUC difference on the booked loans), and the
  challenger is promoted on that comparison (`creditwatch model promote`);
- more applicants of the changed world, now answered by the new champion, until the quality job has enough
  booked loans with outcomes to judge, against the new champion's own card: its booked loans against the
  card's recent labelled holdout (the changed world's latest matured outcomes, kept out of training), not the
  original world's holdout. The step requires `ok`: the loop is closed only when the new champion holds in
  the world it was trained for.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditwatch import lake
from creditwatch_common.ids import iso_utc

if TYPE_CHECKING:
    from creditwatch.demo import Demo
    from creditwatch.labelled_history import World
    from creditwatch_common.registry import ModelRegistry

# Shadow traffic: enough applications for the compare job's 500 shadow rows, and ~250 booked loans with an outcome.
SHADOW_APPLICATIONS = 1500
# The new champion's traffic: at least this many, then more, a batch at a time, until the quality job's minimum of
# booked loans is met (small batches: ~1250 applications rather than 1500, each of them read again by the export).
PROMOTED_APPLICATIONS = 1000
PROMOTED_BATCH = 250
PROMOTED_MAX = 8000
MOVED_BY = "creditwatch demo"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _window(started: datetime | None, ended: datetime | None) -> dict[str, str]:
    """Whole seconds [start, end) holding the traffic, as the jobs take a window."""
    assert started is not None and ended is not None
    return {
        "start": iso_utc(started.replace(microsecond=0)),
        "end": iso_utc(ended.replace(microsecond=0) + timedelta(seconds=1)),
    }


def _estimate(e: dict[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    if e.get("low") is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} (95% {e['low']:.3f} to {e['high']:.3f})"


class Loop:
    """The loop's steps, run by the demo's `step` (each checks what it should have produced)."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.state: dict[str, Any] = demo.result.loop

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        """(name, action) in order."""
        return [
            ("challenger trained on the matured outcomes (model train --challenger)", self._train),
            ("shadow traffic: the changed world's applicants, the challenger scored beside the champion", self._shadow),
            ("compare job: champion against challenger on the shadow window (model compare)", self._compare),
            ("promote the challenger on that comparison (model promote)", self._promote),
            ("traffic answered by the new champion, its booked loans' outcomes", self._promoted_traffic),
            ("quality job over the new champion's cohort", self._quality),
        ]

    @cached_property
    def registry(self) -> ModelRegistry:
        """The demo stack's registry."""
        from creditwatch.registry import local_registry

        return local_registry(self.demo.endpoint)

    @cached_property
    def world(self) -> World:
        """The simulated world the labelled history was drawn from (its truth changed since the change)."""
        from creditwatch.labelled_history import build_world
        from creditwatch_model import load_model

        return build_world(load_model())

    def _train(self) -> str:
        from creditwatch.demo import StepFailed
        from creditwatch.registry import matured_outcomes
        from creditwatch_analytics.model_lifecycle import register_challenger
        from creditwatch_analytics.training.challenger import train_challenger

        window, drifted = self.demo.result.history.get("window"), self.demo.result.quality_drifted
        if not window or drifted.get("verdict") != "degraded":
            raise StepFailed("no degraded quality cohort to act on")
        # The history's predictions up to the degraded cohort's end, before and after the change, as the lake holds
        # them (`lake export --backfill`): younger ones have few outcomes yet, and the table's 45 days cost time.
        start, end = _at(window["start"]), _at(drifted["cohort"]["end"])
        matured = matured_outcomes(start, end, endpoint=self.demo.endpoint, engine="lake")
        champion = self.registry.alias("champion")
        why = f"quality degraded: trained on the outcomes matured for predictions of {start:%Y-%m-%d} .. {end:%Y-%m-%d}"
        with tempfile.TemporaryDirectory(prefix="creditwatch-challenger-") as tmp:
            trained = train_challenger(
                matured, Path(tmp), created_by=MOVED_BY, why=why, parent_version=champion.version if champion else None
            )
            done = register_challenger(self.registry, trained.card, Path(tmp), MOVED_BY, why)
        card = done.card
        original, recent = card.validation["original"], card.validation["recent"]
        self.state["challenger"] = {
            "version": card.version,
            "champion": champion.version if champion else None,
            "rows_by_source": dict(card.training.rows_by_source),
            "auc_original": original.figures.get("auc"),
            "auc_recent": recent.figures.get("auc"),
            "recent_rows": recent.rows,
        }
        rows = card.training.rows_by_source
        return (
            f"original {rows.get('original')} + matured outcomes {rows.get('matured_outcomes')} (booked loans "
            f"of {start:%Y-%m-%d} .. {end:%Y-%m-%d}, read from the lake), recent holdout {recent.rows} rows; "
            "AUC on the original holdout "
            f"{_estimate(original.figures.get('auc'))}, on the recent {_estimate(recent.figures.get('auc'))}; "
            "registered as challenger"
        )

    def _send(self, seed: int, **kwargs: Any) -> Any:
        from creditwatch.labelled_history.live import send_live
        from creditwatch.simulate import outcome_poster
        from creditwatch.simulate.send import local_handler

        endpoint = self.demo.endpoint
        # The comparison needs every application of the shadow window scored by both models. Deployed, the
        # challenger gets 25 ms a request and a request over it pauses it (ShadowFailures counts the misses);
        # on a busy 2-core machine a 256-row chunk can take longer, so the demo's function allows 1 s.
        handler = local_handler(endpoint, environment={"SHADOW_BUDGET_MS": "1000"})
        return send_live(self.world, handler, outcome_poster(endpoint), seed=seed, **kwargs)

    def _shadow(self) -> str:
        from creditwatch.demo import StepFailed

        challenger = self.state.get("challenger")
        if not challenger:
            raise StepFailed("no challenger to shadow")
        live = self._send(self.demo.options.seed + 100, applications=SHADOW_APPLICATIONS)
        self.state["shadow"] = {**live.as_dict(), "window": _window(live.started, live.ended)}
        if set(live.model_versions) != {challenger["champion"]}:
            raise StepFailed(f"answered by {dict(live.model_versions)}, not the champion {challenger['champion']}")
        return (
            f"{live.sent} applications through /predict-batch, approval {live.approval_rate:.1%}; "
            f"{live.outcomes_posted} outcomes of booked loans posted at once (the demo compresses the 30-60 days)"
        )

    def _compare(self) -> str:
        from creditwatch.demo import StepFailed

        shadow, challenger = self.state.get("shadow"), self.state.get("challenger")
        if not shadow or not challenger:
            raise StepFailed("no shadow traffic to compare")
        event = {**shadow["window"], "challenger_version": challenger["version"], "source": "creditwatch.demo"}
        summary = self.demo.invoke("CompareFunction", event)
        self.state["comparison"] = summary
        figures = summary.get("figures")
        if summary.get("status") != "ok" or not figures:
            raise StepFailed(f"status {summary.get('status')}: {summary.get('message')}")
        if figures["shadow_rows"] != shadow["sent"]:
            raise StepFailed(f"{figures['shadow_rows']} shadow rows, {shadow['sent']} applications sent")
        if figures["realized"]["rows"] != shadow["outcomes_posted"]:
            raise StepFailed(f"{figures['realized']['rows']} outcomes compared, {shadow['outcomes_posted']} posted")
        swaps, rates = figures["swap_set"], figures["approval_rate"]
        auc = figures["realized"]["difference"].get("auc")
        return (
            f"swap set of {figures['shadow_rows']} applications: approved by both {swaps['both']}, champion only "
            f"{swaps['champion_only']}, challenger only {swaps['challenger_only']}, neither {swaps['neither']}; "
            f"approval {rates['champion']:.1%} (champion) against {rates['challenger']:.1%}; AUC difference "
            f"(challenger minus champion) on {figures['realized']['rows']} booked loans {_estimate(auc)}"
        )

    def _promote(self) -> str:
        from creditwatch.demo import StepFailed
        from creditwatch_analytics.model_lifecycle import promote

        comparison, challenger = self.state.get("comparison") or {}, self.state.get("challenger")
        if not challenger or comparison.get("status") != "ok":
            raise StepFailed("no comparison to promote on")
        verdict, reasons = comparison["verdict"], "; ".join(comparison["figures"]["reasons"])
        auc = comparison["figures"]["realized"]["difference"].get("auc") or {}
        reason = f"the champion's quality degraded on booked loans; comparison {comparison['report_id']}: {verdict}"
        # Only a `promote` verdict promotes as is. Otherwise the demo promotes as a lender's model owner would have
        # to: with --force and a recorded reason, and only for a challenger better beyond noise on realized AUC.
        force = verdict != "promote"
        if force:
            if auc.get("low") is None or auc["low"] <= 0:
                raise StepFailed(
                    f"the comparison says {verdict} and the challenger is not better on outcomes: {reasons}"
                )
            reason += (
                f" ({reasons}); forced for an AUC better beyond noise on booked loans: the trade-off is the lender's"
            )
        move = promote(self.registry, challenger["version"], MOVED_BY, reason, force=force)
        self.state["promotion"] = move.model_dump(mode="json")
        if move.evidence_report_id != comparison["report_id"]:
            raise StepFailed(f"promoted on {move.evidence_report_id}, not on the comparison just made")
        # What the registry keeps of it: the champion's history, read back (who, when, why, evidence, forced).
        history = self.registry.alias_history("champion")
        self.state["champion_history"] = [m.model_dump(mode="json") for m in history]
        if not history or history[-1].version != challenger["version"] or history[-1].forced != force:
            raise StepFailed("the promotion is not the last move of the champion's history")
        if not force:
            return "on the comparison's verdict promote, recorded as its evidence; it answers from the next request"
        share = comparison["figures"]["approval_rate"]["challenger"]
        repaid, truth_di = self._world_fairness("sex", share)
        self.state["world_sex"] = {"repayment_ratio": repaid, "truth_disparate_impact": truth_di, "approval": share}
        return (
            f"FORCED over the comparison's verdict {verdict} ({reasons}): promoted with --force for an AUC better "
            f"beyond noise ({_estimate(auc)}), the reason and forced=true kept in the champion's history; the "
            f"changed world's own truth, approving as many ({share:.1%}), has a disparate impact by sex of "
            f"{truth_di:.2f} (women repay at {repaid:.2f} of men's rate): a more accurate model approves women less"
        )

    def _world_fairness(self, attribute: str, approval_rate: float) -> tuple[float, float]:
        """The changed world's repayment ratio by group, and its truth's disparate impact approving `approval_rate`.

        The truth approves the applicants most likely to repay first: what a perfect model would show.
        """
        import numpy as np
        import pandas as pd

        from creditwatch.labelled_history.truth import recombine
        from creditwatch_analytics.groups import protected_groups

        apps = recombine(self.world.base, 20_000, np.random.default_rng(self.demo.options.seed))
        good = 1 - self.world.changed_truth.bad_probability(apps)
        groups = protected_groups(pd.DataFrame(apps), (25,))[attribute].to_numpy()
        approved = good >= np.quantile(good, 1 - approval_rate)
        repaid = pd.Series(good).groupby(groups).mean()
        rates = pd.Series(approved.astype(float)).groupby(groups).mean()
        return float(repaid.min() / repaid.max()), float(rates.min() / rates.max())

    def _promoted_traffic(self) -> str:
        from creditwatch.demo import StepFailed

        move = self.state.get("promotion")
        if not move:
            raise StepFailed("nothing promoted")
        needed = int(self.demo.template.parameters["QualityMinLabelledRows"])
        live = self._send(
            self.demo.options.seed + 200,
            applications=PROMOTED_APPLICATIONS,
            min_outcomes=needed,
            max_applications=PROMOTED_MAX,
            batch=PROMOTED_BATCH,
        )
        self.state["promoted_traffic"] = {**live.as_dict(), "window": _window(live.started, live.ended)}
        if set(live.model_versions) != {move["version"]}:
            raise StepFailed(f"answered by {dict(live.model_versions)}, not the new champion {move['version']}")
        # The quality job's warm instance reads the lake (the demo's other quality runs): the cohort goes there.
        exported = lake.exporter(self.demo.endpoint).export(2)
        return (
            f"{live.sent} applications answered by the new champion, approval {live.approval_rate:.1%}; "
            f"{live.outcomes_posted} outcomes of its booked loans posted at once; {exported.rows} records of the "
            "last hours exported to the lake"
        )

    def _quality(self) -> str:
        from creditwatch.demo import StepFailed, quality_said

        traffic, move = self.state.get("promoted_traffic"), self.state.get("promotion")
        if not traffic or not move:
            raise StepFailed("no traffic under the new champion")
        # The cohort is exactly the new champion's traffic: its window, read from the lake it was just exported to.
        event = {**traffic["window"], "source": "creditwatch.demo"}
        summary = self.demo.invoke("QualityFunction", event, {"ANALYTICS_ENGINE": "lake"})
        self.state["quality"] = summary
        said = quality_said(summary)
        if summary.get("engine") != "lake" or summary.get("rows") != traffic["sent"]:
            raise StepFailed(
                f"the cohort {summary.get('cohort')} read by {summary.get('engine')} holds {summary.get('rows')} "
                f"predictions, the new champion answered {traffic['sent']}: {summary.get('message')}"
            )
        judged = summary.get("judged_against") or {}
        if (judged.get("version"), judged.get("source")) != (move["version"], "registry"):
            raise StepFailed(f"judged against {judged}, not the new champion {move['version']}'s card")
        if judged.get("holdout") != "recent":
            raise StepFailed(f"judged against the {judged.get('holdout')} holdout: {judged.get('holdout_note')}")
        if summary.get("verdict") != "ok":
            raise StepFailed(f"the new champion does not hold: {said} ({'; '.join(summary.get('reasons') or [])})")
        return (
            f"{said}; judged against the new champion's registered card (threshold {judged.get('threshold')}), "
            f"its recent labelled holdout ({judged.get('holdout_rows')} rows it approves)"
        )
