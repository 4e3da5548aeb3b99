"""Lambda entry points of the deployment hooks (two functions, one package): built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_deploy_hook.app import DeployHooks, build
from creditwatch_deploy_hook.settings import HookSettings


@functools.cache
def service() -> DeployHooks:
    """The hooks, built from the environment on first call."""
    return build(HookSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


@functools.cache
def _wrapped(name: str) -> Any:
    hooks = service()
    return hooks.obs.wrap(getattr(hooks, name))


def pre_traffic(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """CodeDeploy BeforeAllowTraffic of PredictFunction: the model gate."""
    return _wrapped("pre_traffic")(event, context)  # type: ignore[no-any-return]


def post_traffic(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """CodeDeploy AfterAllowTraffic of PredictFunction: the rollback alarms are quiet."""
    return _wrapped("post_traffic")(event, context)  # type: ignore[no-any-return]
