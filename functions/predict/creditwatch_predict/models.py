"""Which models answer: the champion (and challenger) of the registry, pinned or followed; else the layer's model.

An applicant is never failed because of the registry: when it cannot be read, or a version cannot be loaded
(missing, tampered, another feature schema), the models already serving go on serving (the layer's, at
first), the failure is counted (ModelRegistryFailures) and the registry is asked again after a pause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from creditwatch_common.observability import Metric, Observability
from creditwatch_common.registry import ModelRegistry
from creditwatch_model import EXPLAIN_FILE, FOREST_FILE, METADATA_FILE, CreditModel, load_model

# What serving needs of a version: its decision (forest, metadata) and its explanations.
SERVED_FILES = (METADATA_FILE, FOREST_FILE, EXPLAIN_FILE)
# Loaded versions kept in memory: champion, challenger, and the two they replaced.
KEPT_VERSIONS = 4


class ModelProvider:
    """The champion and challenger of every request: a pinned version, or the aliases checked at most every interval."""

    def __init__(
        self,
        fallback: CreditModel,
        registry: ModelRegistry | None = None,
        *,
        obs: Observability | None = None,
        pinned: str | None = None,
        pinned_challenger: str | None = None,
        check_interval_s: float = 1.0,
        retry_after_s: float = 30.0,
        cache_dir: Path = Path("/tmp/creditwatch-models"),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fallback = fallback
        self.registry = registry
        self.obs = obs
        self.pinned = pinned
        self.pinned_challenger = pinned_challenger
        self.check_interval_s = check_interval_s
        self.retry_after_s = retry_after_s
        self.cache_dir = cache_dir
        self.clock = clock
        self._champion = fallback
        self._challenger: CreditModel | None = None
        self._etags: dict[str, str] | None = None
        self._loaded: dict[str, CreditModel] = {fallback.version: fallback}
        self._next_check = 0.0
        self._settled = False  # a pinned setup loaded: nothing left to ask the registry
        self._lock = threading.Lock()
        self.source = "layer"  # where the champion came from: "layer" or "registry"
        self.last_error: str | None = None
        self.refresh()

    def champion(self) -> CreditModel:
        """The model whose answer the applicant gets (refreshed from the registry when due)."""
        self._maybe_refresh()
        return self._champion

    def challenger(self) -> CreditModel | None:
        """The model scored beside the champion, never answering (None: no challenger set or loadable)."""
        self._maybe_refresh()
        return self._challenger

    def status(self) -> dict[str, Any]:
        """What /health says about the models: the champion's version and source, the challenger's version."""
        return {
            "model_version": self._champion.version,
            "model_source": self.source,
            "challenger_version": self._challenger.version if self._challenger else None,
        }

    def _maybe_refresh(self) -> None:
        if self.registry is None or self._settled or self.clock() < self._next_check:
            return
        self.refresh()

    def refresh(self) -> None:
        """Ask the registry now; on any failure keep what serves, count it, ask again after retry_after_s."""
        if self.registry is None:
            return
        with self._lock:
            if self._settled or self.clock() < self._next_check:
                return
            try:
                if self.pinned is not None:
                    self._use(self._version(self.pinned), self._version(self.pinned_challenger))
                    self._settled = True
                else:
                    self._follow_aliases()
                self._next_check = self.clock() + self.check_interval_s
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - whatever failed, the applicant is answered by what serves
                self._next_check = self.clock() + self.retry_after_s
                self.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                if self.obs is not None:
                    self.obs.metric(Metric.MODEL_REGISTRY_FAILURES, 1)
                    self.obs.logger.warning(
                        "model registry not used: serving the models already loaded",
                        extra={"error": self.last_error, "model_version": self._champion.version},
                    )

    def _follow_aliases(self) -> None:
        assert self.registry is not None
        etags = self.registry.alias_etags()
        if etags == self._etags:
            return
        aliases = self.registry.aliases()
        champion = aliases.get("champion")
        challenger = aliases.get("challenger")
        self._use(
            self._version(champion.version if champion else None),
            self._version(challenger.version if challenger else None),
        )
        self._etags = etags

    def _use(self, champion: CreditModel | None, challenger: CreditModel | None) -> None:
        self._champion = champion or self.fallback
        self.source = "layer" if self._champion is self.fallback else "registry"
        # A challenger equal to the champion would only shadow it with itself.
        self._challenger = (
            challenger if challenger is not None and challenger.version != self._champion.version else None
        )

    def _version(self, version: str | None) -> CreditModel | None:
        """A registered version, loaded once: its served files fetched and checked against its card."""
        if version is None:
            return None
        if version == self.fallback.version:
            return self.fallback  # the layer's own model (deployed stacks pin it): no registry call
        if version in self._loaded:
            return self._loaded[version]
        assert self.registry is not None
        folder = self.registry.fetch(version, self.cache_dir / version, SERVED_FILES)
        model = load_model(str(folder))
        if model.version != version:
            raise ValueError(f"version {version}'s metadata names version {model.version}")
        if model.schema.to_dict() != self.fallback.schema.to_dict():
            # The API's request models are built from the layer's schema at init: another schema needs a deploy.
            raise ValueError(f"version {version} has another feature schema than the API serves")
        if len(self._loaded) >= KEPT_VERSIONS:
            keep = {self.fallback.version, self._champion.version}
            for old in [v for v in self._loaded if v not in keep][:1]:
                del self._loaded[old]
        self._loaded[version] = model
        return model
