"""Lambda entry point of the drift function (container image): the service is built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_drift.app import DriftService, build
from creditwatch_drift.settings import DriftSettings


@functools.cache
def service() -> DriftService:
    """The function's service, built from the environment on first call."""
    return build(DriftSettings(), AwsClients())


service()  # during init (Evidently's import and the reference load happen here)
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled or on-demand drift run; returns the JSON summary."""
    return service().handler(event, context)  # type: ignore[no-any-return]
