"""The route's request as the function reads it from the HTTP API event, and the audit record of an opening."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ReportRequest(BaseModel):
    """`GET /reports/{report_id}?t=<token>` with who asked (payload format 2.0)."""

    model_config = ConfigDict(frozen=True)

    report_id: str
    token: str | None
    source_ip: str | None
    user_agent: str | None
    request_id: str | None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ReportRequest:
        """Read the request from an API Gateway HTTP API event (payload format 2.0)."""
        path = event.get("pathParameters") or {}
        query = event.get("queryStringParameters") or {}
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        raw = path.get("report_id")
        if raw is None:
            # `creditwatch serve` and tests may pass only rawPath: /reports/<id>
            raw = str(event.get("rawPath", "")).rsplit("/", 1)[-1]
        return cls(
            report_id=str(raw)[:200],
            token=str(query["t"])[:200] if query.get("t") else None,
            source_ip=http.get("sourceIp"),
            user_agent=str(http.get("userAgent") or headers.get("user-agent") or "")[:500] or None,
            request_id=context.get("requestId"),
        )


class ReportOpened(BaseModel):
    """One audit record: who opened which report, when, and until when their link was valid."""

    model_config = ConfigDict(frozen=True)

    event: str = "report_opened"
    opened_at: str
    report_id: str
    html_key: str
    source_ip: str | None
    user_agent: str | None
    request_id: str | None
    token_expires_at: str
    key_version: int
