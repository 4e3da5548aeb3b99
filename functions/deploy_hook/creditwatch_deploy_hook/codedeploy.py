"""What a hook needs from CodeDeploy: the versions of its deployment, and where to report its verdict."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from creditwatch_common.aws import is_permanent

Status = Literal["Succeeded", "Failed"]


class DeploymentInfoError(RuntimeError):
    """The deployment's AppSpec does not name the function and versions the hook expects."""


@dataclass(frozen=True)
class Shift:
    """The traffic shift a deployment makes: a function's alias from one published version to another."""

    function: str
    alias: str
    current_version: str
    target_version: str


@dataclass
class Deployment:
    """One CodeDeploy client: read a deployment's AppSpec, report a hook's status."""

    codedeploy: Any
    sleep: Any = time.sleep

    def shift(self, deployment_id: str, function: str) -> Shift:
        """The alias shift of `function` in the deployment (the AppSpec SAM's CloudFormation deployment carries)."""
        info = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        content = (info.get("revision") or {}).get("appSpecContent", {}).get("content")
        try:
            spec = json.loads(content or "")
            resources = [props for r in spec["Resources"] for props in r.values()]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DeploymentInfoError(f"deployment {deployment_id} carries no JSON AppSpec with Resources") from None
        for res in resources:
            props = res.get("Properties", {})
            name = str(props.get("Name", ""))
            if name == function or name.endswith(f":function:{function}"):
                try:
                    return Shift(name, str(props["Alias"]), str(props["CurrentVersion"]), str(props["TargetVersion"]))
                except KeyError as exc:
                    raise DeploymentInfoError(f"deployment {deployment_id}'s AppSpec has no {exc.args[0]}") from None
        raise DeploymentInfoError(f"deployment {deployment_id} does not shift {function}")

    def report(self, deployment_id: str, execution_id: str, status: Status, attempts: int = 4) -> None:
        """PutLifecycleEventHookExecutionStatus, retried on transient errors (CodeDeploy waits for it)."""
        for attempt in range(attempts):
            try:
                self.codedeploy.put_lifecycle_event_hook_execution_status(
                    deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
                )
                return
            except Exception as exc:
                if is_permanent(exc) or attempt == attempts - 1:
                    raise
                self.sleep(min(2.0, 0.2 * 2**attempt))
