"""Events of the scheduled and on-demand jobs: validated into their model, or answered precisely."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InvalidEvent(Exception):
    """An event its job's model refuses: the job answers `invalid_event` rather than fail (no retry would help)."""

    def __init__(self, what: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"invalid {what}")
        self.what = what
        self.errors = errors

    def answer(self, logger: Any) -> dict[str, Any]:
        """The job's answer, logged as a warning with the errors."""
        logger.warning(f"invalid {self.what}", extra={"errors": self.errors})
        return {"status": "invalid_event", "message": f"invalid {self.what}", "errors": self.errors}


def parse_event(model: type[M], event: dict[str, Any] | None, what: str) -> M:
    """The event as `model`; InvalidEvent (with plain JSON errors) when it does not fit."""
    try:
        return model.model_validate(event or {})
    except ValidationError as exc:
        # Plain JSON: the errors' ctx may hold exception objects.
        raise InvalidEvent(what, json.loads(exc.json(include_url=False))) from None
