"""Lambda entry point of the uptime probe: the service is built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_probe.app import ProbeService, build
from creditwatch_probe.settings import ProbeSettings


@functools.cache
def service() -> ProbeService:
    """The function's service, built from the environment on first call."""
    return build(ProbeSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Probe the API once: /health?deep=true and one scored /predict of a synthetic application."""
    return service().handler(event, context)  # type: ignore[no-any-return]
