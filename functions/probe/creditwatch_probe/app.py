"""Builds the uptime probe from its settings and clients: the one place where its parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from creditwatch_common.aws import AwsClients
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_probe.probe import Probe, sigv4_signer
from creditwatch_probe.settings import ProbeSettings

Handler = Any


@dataclass(frozen=True)
class ProbeService:
    """The built function: the probe and its Lambda handler."""

    settings: ProbeSettings
    probe: Probe
    obs: Observability

    @cached_property
    def handler(self) -> Handler:
        """The Lambda handler: handle() inside Powertools' context logging, tracing and metrics."""
        return self.obs.entry(self.handle)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """One probe run: its metrics (ProbeFailed alarms), a log line per failed call."""
        result = self.probe.run()
        self.obs.metric(Metric.PROBE_FAILED, 0 if result.ok else 1)
        for check in result.checks:
            self.obs.metric(Metric.PROBE_LATENCY, check.latency_ms, "Milliseconds")
            if not check.ok:
                self.obs.logger.warning(f"probe {check.name} failed: {check.detail}", extra=check.model_dump())
        return result.model_dump()


def build(settings: ProbeSettings, clients: AwsClients) -> ProbeService:
    """Everything the probe needs (the function's own credentials sign; nothing is stored)."""
    signer = sigv4_signer(clients.session.get_credentials(), settings.region) if settings.sign else None
    probe = Probe(settings.api_url, settings.timeout_s, signer)
    return ProbeService(settings=settings, probe=probe, obs=Observability.build(Service.PROBE, settings))
