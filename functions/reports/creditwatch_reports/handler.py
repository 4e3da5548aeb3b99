"""Lambda entry point of the reports function: the service is built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap
from creditwatch_reports.app import ReportsService, build
from creditwatch_reports.settings import ReportsSettings


@functools.cache
def service() -> ReportsService:
    """The function's service, built from the environment on first call."""
    return build(ReportsSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """`GET /reports/{report_id}?t=<token>`: 302 to a short S3 link to the report, or 403."""
    return service().handler(event, context)  # type: ignore[no-any-return]
