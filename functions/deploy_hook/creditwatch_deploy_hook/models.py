"""The hooks' event (what CodeDeploy sends) and result (what they log and return)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from creditwatch_deploy_hook.gate import GateRow

Hook = Literal["pre_traffic", "post_traffic"]


class HookEvent(BaseModel):
    """A CodeDeploy lifecycle hook invocation."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    deployment_id: str = Field(alias="DeploymentId", min_length=1)
    execution_id: str = Field(alias="LifecycleEventHookExecutionId", min_length=1)


class HookResult(BaseModel):
    """What a hook decided and reported."""

    hook: Hook
    deployment_id: str
    status: Literal["Succeeded", "Failed"]
    reason: str
    function: str | None = None
    current_version: str | None = None
    target_version: str | None = None
    target_model_version: str | None = None
    baseline_model_version: str | None = None
    rows: list[GateRow] = []
    notified: bool = False
