"""Lambda entry point of the lake export function (the drift image, its own command): built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_lake_export.app import LakeExportService, build
from creditwatch_lake_export.settings import LakeExportSettings


@functools.cache
def service() -> LakeExportService:
    """The function's service, built from the environment on first call."""
    return build(LakeExportSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Export the recent hours of the prediction log to the lake; returns what was written."""
    return service().handler(event, context)  # type: ignore[no-any-return]
