"""Realistic traffic for the local stack: stable, drifted, invalid and faulty requests."""

from creditwatch.simulate.send import (
    Call,
    Sender,
    Tally,
    fault_writer,
    handler_sender,
    http_sender,
    local_handler,
    outcome_poster,
    run_simulation,
)
from creditwatch.simulate.traffic import (
    DEFAULT_RECODES,
    FEMALE,
    PRESETS,
    SCENARIOS,
    BiasShift,
    DriftShift,
    Request,
    application_pool,
    generate,
    plan_counts,
    shift_application,
)

__all__ = [
    "DEFAULT_RECODES",
    "FEMALE",
    "PRESETS",
    "SCENARIOS",
    "BiasShift",
    "Call",
    "DriftShift",
    "Request",
    "Sender",
    "Tally",
    "application_pool",
    "fault_writer",
    "generate",
    "handler_sender",
    "http_sender",
    "local_handler",
    "outcome_poster",
    "plan_counts",
    "run_simulation",
    "shift_application",
]
