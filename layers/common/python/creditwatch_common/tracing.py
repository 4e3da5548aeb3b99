"""Powertools Tracer that imports the X-Ray SDK only when tracing is on.

Powertools builds the X-Ray recorder even when tracing is disabled, and the X-Ray SDK creates two
botocore clients at import: about 0.2 s of every cold start (bench/predict_bench.py). With the
TracingMode parameter at Disabled, the tracer gets a no-op provider and that cost goes away.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoopSegment(BaseSegment):
    """A segment that records nothing."""

    def close(self, end_time: int | None = None) -> None:
        """Nothing to close."""

    def add_subsegment(self, subsegment: Any) -> None:
        """Nothing to add."""

    def remove_subsegment(self, subsegment: Any) -> None:
        """Nothing to remove."""

    def put_annotation(self, key: str, value: Any) -> None:
        """Dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped."""

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        """Dropped."""


class NoopProvider(BaseProvider):
    """Tracing provider for when tracing is off: same interface, no X-Ray import."""

    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        """A segment that records nothing."""
        yield _NoopSegment()

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> AsyncGenerator[BaseSegment, None]:
        """A segment that records nothing."""
        yield _NoopSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        """Dropped."""

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        """Dropped."""

    def patch(self, modules: Sequence[str]) -> None:
        """Nothing to patch."""

    def patch_all(self) -> None:
        """Nothing to patch."""


def make_tracer(service: str, *, enabled: bool) -> Tracer:
    """The X-Ray-backed Powertools Tracer when tracing is on, a no-op one otherwise."""
    if enabled:
        return Tracer(service=service)
    return Tracer(service=service, disabled=True, auto_patch=False, provider=NoopProvider())
