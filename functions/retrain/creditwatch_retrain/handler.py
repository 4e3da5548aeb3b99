"""Lambda entry point of the retrain function (the drift image, its own command): built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_retrain.app import RetrainService, build
from creditwatch_retrain.settings import RetrainSettings


@functools.cache
def service() -> RetrainService:
    """The function's service, built from the environment on first call."""
    return build(RetrainSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Train a challenger on a window's matured outcomes and register it; returns the version and its card's summary."""
    return service().handler(event, context)  # type: ignore[no-any-return]
