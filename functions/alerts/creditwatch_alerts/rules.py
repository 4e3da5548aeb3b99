"""The alert rules: window statistics from the prediction log, and which conditions fire."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from creditwatch_common.records import RequestRow

Severity = Literal["critical", "warning"]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), q in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class WindowStats(BaseModel):
    """What the window's request records say."""

    window_start: str
    window_end: str
    requests: int
    server_errors: int
    client_errors: int
    server_error_rate: float | None
    client_error_rate: float | None
    latency_ms: dict[str, float | None]
    # Requests of POST /outcomes in the window: left out of everything above.
    outcome_requests: int = 0

    @classmethod
    def from_records(cls, records: Iterable[RequestRow], window_start: str, window_end: str) -> WindowStats:
        """Count statuses and latencies of request records."""
        latencies: list[float] = []
        server = client = outcomes = 0
        for r in records:
            if not r.scoring:
                # POST /outcomes is not scoring traffic: counted apart, never in the rates or latencies.
                outcomes += 1
                continue
            server += r.status >= 500
            client += 400 <= r.status < 500
            if r.latency_ms is not None:
                latencies.append(r.latency_ms)
        n = len(latencies)
        stats = {
            "p50": percentile(latencies, 50) if n else None,
            "p95": percentile(latencies, 95) if n else None,
            "p99": percentile(latencies, 99) if n else None,
            "mean": sum(latencies) / n if n else None,
        }
        return cls(
            window_start=window_start,
            window_end=window_end,
            requests=n,
            server_errors=server,
            client_errors=client,
            server_error_rate=server / n if n else None,
            client_error_rate=client / n if n else None,
            latency_ms={k: round(v, 3) if v is not None else None for k, v in stats.items()},
            outcome_requests=outcomes,
        )


class Condition(BaseModel):
    """One rule's verdict on a window."""

    key: Literal["error_rate", "latency", "no_traffic", "review_queue_age", "override_rate"]
    title: str
    severity: Severity
    judged: bool  # False when the window had too few requests to say
    firing: bool
    value: float | None
    threshold: float | None
    unit: str
    detail: str


def evaluate(
    stats: WindowStats,
    *,
    error_rate_threshold: float,
    latency_threshold_ms: float,
    latency_statistic: str,
    min_requests: int,
    expect_traffic: bool,
) -> list[Condition]:
    """Error rate and latency above their thresholds (strictly), and no traffic when traffic was expected."""
    enough = stats.requests >= min_requests
    thin = f"only {stats.requests} request(s), {min_requests} needed to judge"
    rate = stats.server_error_rate
    latency = stats.latency_ms.get(latency_statistic)
    return [
        Condition(
            key="error_rate",
            title="Server error rate",
            severity="critical",
            judged=enough,
            firing=enough and rate is not None and rate > error_rate_threshold,
            value=rate,
            threshold=error_rate_threshold,
            unit="share",
            detail=(f"{stats.server_errors} of {stats.requests} requests answered 5xx" if enough else thin),
        ),
        Condition(
            key="latency",
            title=f"Latency {latency_statistic}",
            severity="warning",
            judged=enough,
            firing=enough and latency is not None and latency > latency_threshold_ms,
            value=latency,
            threshold=latency_threshold_ms,
            unit="ms",
            detail=(f"{latency_statistic} over {stats.requests} requests" if enough else thin),
        ),
        Condition(
            key="no_traffic",
            title="No traffic",
            severity="warning",
            judged=expect_traffic,
            firing=expect_traffic and stats.requests == 0,
            value=float(stats.requests),
            threshold=0.0,
            unit="requests",
            detail="no request at all reached the API in the window" if stats.requests == 0 else "traffic present",
        ),
    ]
