"""Lambda entry point of the compare function (the drift image, its own command): built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_compare.app import CompareService, build
from creditwatch_compare.settings import CompareSettings


@functools.cache
def service() -> CompareService:
    """The function's service, built from the environment on first call."""
    return build(CompareSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Scheduled or on-demand comparison of the challenger with the champion; returns the JSON summary."""
    return service().handler(event, context)  # type: ignore[no-any-return]
