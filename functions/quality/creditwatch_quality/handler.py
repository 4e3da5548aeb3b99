"""Lambda entry point of the quality function (the drift image, its own command): built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_quality.app import QualityService, build
from creditwatch_quality.settings import QualitySettings


@functools.cache
def service() -> QualityService:
    """The function's service, built from the environment on first call."""
    return build(QualitySettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled or on-demand quality run over a cohort of predictions with outcomes; returns the JSON summary."""
    return service().handler(event, context)  # type: ignore[no-any-return]
