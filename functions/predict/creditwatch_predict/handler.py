"""Lambda entry point of the predict function: the service is built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_predict.app import PredictService, build
from creditwatch_predict.settings import PredictSettings


@functools.cache
def service() -> PredictService:
    """The function's service, built from the environment on first call."""
    return build(PredictSettings(), AwsClients())


# Built during init, which Lambda runs at full CPU before the first request.
service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) event -> FastAPI response."""
    return service().handler(event, context)  # type: ignore[no-any-return]
