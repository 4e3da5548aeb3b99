"""One retrain run: read the window's matured outcomes, train a challenger and register it (the one training path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from creditwatch_analytics.lake.schema import LakeError
from creditwatch_analytics.lake.source import WindowSource
from creditwatch_analytics.model_lifecycle import Refused
from creditwatch_analytics.training.retrain import NothingToLearn, default_why, read_matured, retrain
from creditwatch_common.aws import error_code
from creditwatch_common.ids import iso_utc
from creditwatch_common.registry import ModelRegistry, RegistryError
from creditwatch_retrain.models import CardSummary, RetrainEvent, RetrainResult
from creditwatch_retrain.settings import RetrainSettings


@dataclass
class RetrainJob:
    """Everything a run needs, passed in (the engine and the registry's client included) so tests can swap any part."""

    settings: RetrainSettings
    # Where the window is read (ANALYTICS_ENGINE): creditwatch_analytics.lake.window.engine_for.
    source: WindowSource
    registry: ModelRegistry

    def run(self, event: RetrainEvent, now: datetime | None = None) -> RetrainResult:
        """Train and register a challenger on the event's window; refusals and failures are answered, never raised."""
        s = self.settings
        start, end = event.window(s.window_days, now or datetime.now(UTC))
        result = RetrainResult(window_start=iso_utc(start), window_end=iso_utc(end))
        try:
            matured = read_matured(self.source, start, end, s.max_labelled_rows)
        except LakeError as exc:
            return self._failed(result, "lake_read_failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - any AWS failure becomes a clear status, then a retried error
            return self._failed(result, "log_read_failed", f"cannot read the window: {error_code(exc)}")
        result.engine, result.rows_read = matured.engine, len(matured.frame)
        result.labelled_rows = len(matured.labelled)
        by = f"{event.requested_by} via {s.function_name}" if event.requested_by else s.function_name
        try:
            done = retrain(self.registry, matured, created_by=by, why=event.reason or default_why(start, end))
        except NothingToLearn as exc:
            return self._refused(result, "no_matured_outcomes", f"{exc}; widen the window (start and end, or days)")
        except Refused as exc:
            return self._refused(result, "equals_champion", str(exc))
        except RegistryError as exc:
            return self._failed(result, "registry_failed", str(exc))
        card = done.card
        result.champion_version = done.champion
        result.version, result.new, result.moved = card.version, done.new, done.move is not None
        result.card = CardSummary.of(card)
        rows = ", ".join(f"{k} {v}" for k, v in card.training.rows_by_source.items())
        state = "registered" if done.new else "already registered (same inputs, same version)"
        result.message = f"challenger {card.version} {state}: trained on {rows}; `challenger` names it"
        return result

    def _refused(self, result: RetrainResult, error: str, message: str) -> RetrainResult:
        return result.model_copy(update={"status": "refused", "error": error, "message": message})

    def _failed(self, result: RetrainResult, error: str, message: str) -> RetrainResult:
        return result.model_copy(update={"status": "error", "error": error, "message": message})
