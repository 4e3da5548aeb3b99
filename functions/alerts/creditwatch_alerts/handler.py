"""Lambda entry point of the alerts function: the service is built once, during init."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from creditwatch_alerts.app import AlertsService, build
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_common.aws import AwsClients
from creditwatch_common.heap import settle_heap


@functools.cache
def service() -> AlertsService:
    """The function's service, built from the environment on first call."""
    return build(AlertsSettings(), AwsClients())


service()
settle_heap()  # what init built lives as long as the process


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Judge the last window, notify Slack of what started or cleared, deliver queued notifications."""
    return service().handler(event, context)  # type: ignore[no-any-return]
