"""The hooks themselves: decide, report to CodeDeploy, say why (log, Slack). Never succeed by default."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditwatch_common.aws import error_code
from creditwatch_common.notifications import DeploymentGateFailed, dump_notification
from creditwatch_common.registry import ModelRegistry, RegistryError
from creditwatch_common.replay import REPLAY_FILE, InvalidReplaySet, load_replay, schema_problems
from creditwatch_deploy_hook.codedeploy import Deployment, DeploymentInfoError, Shift
from creditwatch_deploy_hook.gate import Baseline, GateResult, Tolerance, contract_problems, judge
from creditwatch_deploy_hook.models import Hook, HookEvent, HookResult
from creditwatch_deploy_hook.replay_run import Invoke, Replayer, ReplayFailed

METADATA_FILE = "metadata.json"
# Failures the hook explains in its own words; anything else is named by its class (still a failure).
EXPECTED = (ReplayFailed, InvalidReplaySet, RegistryError, DeploymentInfoError)


class GateRefused(RuntimeError):
    """The hook cannot run the gate (its inputs are wrong): the deployment fails with this line."""


@dataclass
class PreTrafficGate:
    """Replays the frozen set through the new version and judges it (gate.judge) before any traffic moves."""

    deployment: Deployment
    lambda_client: Any
    registry: ModelRegistry | None  # where the comparison evidence is
    function: str
    model_dir: Path
    tolerance: Tolerance
    replayer: Callable[[Invoke], Replayer]

    def model_version_of(self, version: str) -> str:
        """The MODEL_VERSION literal of a published version's configuration (template.yaml)."""
        config = self.lambda_client.get_function_configuration(FunctionName=self.function, Qualifier=version)
        value = (config.get("Environment") or {}).get("Variables", {}).get("MODEL_VERSION")
        if not value:
            raise GateRefused(f"version {version} of {self.function} has no MODEL_VERSION in its configuration")
        return str(value)

    def run(self, event: HookEvent, result: HookResult) -> GateResult:
        """The verdict on the deployment's target version (fills `result`'s versions as it learns them)."""
        from creditwatch_deploy_hook.replay_run import lambda_invoke

        shift: Shift = self.deployment.shift(event.deployment_id, self.function)
        result.function, result.current_version, result.target_version = (
            shift.function,
            shift.current_version,
            shift.target_version,
        )
        target_model = self.model_version_of(shift.target_version)
        current_model = self.model_version_of(shift.current_version)
        result.target_model_version, result.baseline_model_version = target_model, current_model
        replay = load_replay(self.model_dir / REPLAY_FILE)
        metadata = json.loads((self.model_dir / METADATA_FILE).read_text())
        problems = schema_problems(replay, metadata["feature_schema"])
        if problems:
            raise GateRefused(f"the replay set does not match the model's schema: {problems[0]}")
        if replay.model_version != target_model:
            raise GateRefused(
                f"the replay set is model {replay.model_version}'s but version {shift.target_version} "
                f"serves {target_model}: the layer and the MODEL_VERSION literal disagree"
            )
        request_id = f"gate-{event.deployment_id}"
        target = self.replayer(lambda_invoke(self.lambda_client, self.function, shift.target_version))
        new = target.answers(replay.applications, f"version {shift.target_version}", request_id)
        evidence = None
        if target_model == current_model:
            baseline = Baseline(target_model, replay.answers, "the frozen replay set")
        else:
            live = self.replayer(lambda_invoke(self.lambda_client, self.function, shift.current_version))
            raw = live.answers(replay.applications, f"live version {shift.current_version}", request_id + "-live")
            answers, problems = contract_problems(raw, len(replay.applications), current_model)
            if problems:
                raise GateRefused(f"live version {shift.current_version} answers break the contract: {problems[0]}")
            baseline = Baseline(current_model, answers, f"live version {shift.current_version}")
            if self.registry is None:
                raise GateRefused("model changed but the hook has no MODEL_REGISTRY_BUCKET to read evidence from")
            evidence = self.registry.latest_evidence(target_model)
        return judge(new, len(replay.applications), target_model, baseline, evidence, self.tolerance)


@dataclass
class AlarmCheck:
    """PostTraffic: with all traffic on the new version, none of the rollback alarms may be in ALARM."""

    cloudwatch: Any
    alarms: list[str]

    def run(self) -> tuple[bool, str]:
        """(passed, one-line reason)."""
        if not self.alarms:
            return False, "no rollback alarms configured (CANARY_ALARM_NAMES is empty)"
        found = self.cloudwatch.describe_alarms(AlarmNames=self.alarms).get("MetricAlarms", [])
        states = {a["AlarmName"]: a for a in found}
        missing = [a for a in self.alarms if a not in states]
        if missing:
            return False, f"rollback alarm(s) not found: {', '.join(missing)}"
        firing = [a for a in self.alarms if states[a]["StateValue"] == "ALARM"]
        if firing:
            why = str(states[firing[0]].get("StateReason", ""))[:200]
            return False, f"{len(firing)} rollback alarm(s) in ALARM: {', '.join(firing)} ({why})"
        return True, f"{len(self.alarms)} rollback alarms not in ALARM"


@dataclass
class HookRunner:
    """Runs one hook, reports its status to CodeDeploy, says why in the log and (on failure) on Slack."""

    hook: Hook
    deployment: Deployment
    sqs: Any
    notifications_queue_url: str | None
    environment: str
    log: Any

    def run(self, event: HookEvent, decide: Callable[[HookResult], tuple[bool, str]]) -> HookResult:
        """`decide` fills the result and says (passed, reason); any exception is a failure with its one line."""
        result = HookResult(hook=self.hook, deployment_id=event.deployment_id, status="Failed", reason="")
        try:
            passed, reason = decide(result)
        except (*EXPECTED, GateRefused) as exc:
            passed, reason = False, str(exc)
        except Exception as exc:  # noqa: BLE001 - a hook never succeeds by default: every error fails it
            passed, reason = False, f"hook error {error_code(exc)}: {str(exc)[:300]}"
        result.status = "Succeeded" if passed else "Failed"
        result.reason = reason.replace("\n", " ")
        self.log.info(
            f"{self.hook} {result.status}: {result.reason}",
            extra={"deployment_id": event.deployment_id, "result": result.model_dump(mode="json")},
        )
        self.deployment.report(event.deployment_id, event.execution_id, result.status)
        if not passed:
            result.notified = self._notify(result)
        return result

    def _notify(self, result: HookResult) -> bool:
        if not self.notifications_queue_url:
            return False
        note = DeploymentGateFailed(
            dedupe_key=f"deployment:{result.deployment_id}:{self.hook}",
            environment=self.environment,
            hook=self.hook,
            deployment_id=result.deployment_id,
            function=result.function or "PredictFunction",
            target_version=result.target_version,
            model_version=result.target_model_version,
            reason=result.reason,
        )
        try:
            self.sqs.send_message(QueueUrl=self.notifications_queue_url, MessageBody=dump_notification(note))
        except Exception as exc:  # noqa: BLE001 - the verdict is reported already; the note is a courtesy
            self.log.warning("deployment note not queued", extra={"error": error_code(exc)})
            return False
        return True
