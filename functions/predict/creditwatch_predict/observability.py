"""Powertools logger, tracer and metrics of the predict function (one instance each)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from creditwatch_common.tracing import make_tracer

SERVICE = "creditwatch-predict"
NAMESPACE = "CreditWatch"

logger = Logger(service=SERVICE)
tracer = make_tracer(SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
