"""Builds the deployment hooks from their settings and clients: the one place where their parts meet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditwatch_common.aws import AwsClients, apply_local_endpoint
from creditwatch_common.observability import Metric, Observability, Service
from creditwatch_common.registry import ModelRegistry
from creditwatch_deploy_hook.codedeploy import Deployment
from creditwatch_deploy_hook.gate import Tolerance
from creditwatch_deploy_hook.models import Hook, HookEvent, HookResult
from creditwatch_deploy_hook.replay_run import Invoke, Replayer
from creditwatch_deploy_hook.service import AlarmCheck, HookRunner, PreTrafficGate
from creditwatch_deploy_hook.settings import HookSettings

Handler = Any


def tolerance_of(settings: HookSettings) -> Tolerance:
    """The gate's tolerance from the hook's settings."""
    return Tolerance(
        score_psi=settings.tolerance_score_psi,
        approval_rate_change=settings.tolerance_approval_rate,
        swap_rate=settings.tolerance_swap_rate,
    )


@dataclass(frozen=True)
class DeployHooks:
    """The built hooks: their Lambda handlers and what they call."""

    settings: HookSettings
    obs: Observability
    clients: AwsClients

    def _runner(self, hook: Hook) -> HookRunner:
        return HookRunner(
            hook=hook,
            deployment=Deployment(self.clients.client("codedeploy")),
            sqs=self.clients.sqs,
            notifications_queue_url=self.settings.notifications_queue_url,
            environment=self.settings.environment,
            log=self.obs.logger,
        )

    def pre_traffic(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """CodeDeploy BeforeAllowTraffic: the model gate on the target version."""
        s = self.settings
        # One attempt per invoke, bounded by the read timeout: a version that does not answer fails the gate.
        lam = self.clients.client(
            "lambda", read_timeout=s.invoke_timeout_s, retries={"total_max_attempts": 1, "mode": "standard"}
        )
        remaining = getattr(context, "get_remaining_time_in_millis", None)

        def time_left() -> float:
            return remaining() / 1000.0 - s.report_reserve_s if remaining else float("inf")

        def replayer(invoke: Invoke) -> Replayer:
            return Replayer(invoke, s.batch_size, time_left=time_left, batch_budget_s=s.invoke_timeout_s)

        gate = PreTrafficGate(
            deployment=Deployment(self.clients.client("codedeploy")),
            lambda_client=lam,
            registry=ModelRegistry(self.clients.s3, s.model_registry_bucket) if s.model_registry_bucket else None,
            function=s.predict_function_name,
            model_dir=Path(s.model_dir),
            tolerance=tolerance_of(s),
            replayer=replayer,
        )
        hook_event = HookEvent.model_validate(event)

        def decide(result: HookResult) -> tuple[bool, str]:
            verdict = gate.run(hook_event, result)
            result.rows = verdict.rows
            return verdict.passed, verdict.reason

        return self._finish(self._runner("pre_traffic").run(hook_event, decide))

    def post_traffic(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """CodeDeploy AfterAllowTraffic: the rollback alarms are not in ALARM."""
        check = AlarmCheck(self.clients.cloudwatch, self.settings.alarms)
        return self._finish(self._runner("post_traffic").run(HookEvent.model_validate(event), lambda _r: check.run()))

    def _finish(self, result: HookResult) -> dict[str, Any]:
        self.obs.metric(Metric.DEPLOY_GATE_PASSED, 1 if result.status == "Succeeded" else 0)
        return result.model_dump(mode="json")


def build(settings: HookSettings, clients: AwsClients) -> DeployHooks:
    """Everything the hooks need, from settings and clients given (tests pass their own)."""
    apply_local_endpoint(settings.local_aws_endpoint)
    return DeployHooks(settings=settings, obs=Observability.build(Service.DEPLOY_HOOK, settings), clients=clients)
