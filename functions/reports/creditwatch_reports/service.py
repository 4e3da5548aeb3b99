"""The gate in front of the reports: check the token, record the opening, redirect to a short S3 link."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from creditwatch_common.ids import iso_utc
from creditwatch_common.reports import (
    LinkRefused,
    Refusal,
    SignerUnavailable,
    TokenClaims,
    TokenKey,
    report_html_key,
    verify_token,
)
from creditwatch_reports.models import ReportOpened, ReportRequest

# Nothing between the reader and us may keep the answer: the Location is a credential for minutes.
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
# One answer for every refusal (the predict API's error shape): the caller learns nothing about which check failed.
REFUSED_ERROR = {"code": "forbidden", "message": "this report link is not valid; ask for a new one", "details": []}


@dataclass(frozen=True)
class Opened:
    """A valid link: the S3 link to redirect to and the audit record."""

    location: str
    audit: ReportOpened


@dataclass
class ReportGate:
    """Everything a request needs, passed in so tests can swap any part."""

    s3: Any
    bucket: str
    prefix: str
    key: Callable[[], TokenKey]
    revoked: Callable[[], frozenset[str]]
    presign_seconds: int = 300
    # Prefixes of the other kinds of report (quality.<...> ids); drift ids use `prefix`.
    kind_prefixes: Mapping[str, str] = field(default_factory=dict)

    def open(self, request: ReportRequest, now: datetime | None = None) -> Opened:
        """The S3 link and audit record of a request whose token opens its report, else LinkRefused."""
        now = now or datetime.now(UTC)
        html_key = report_html_key(self.prefix, request.report_id, self.kind_prefixes)
        if html_key is None:
            raise LinkRefused(Refusal.MALFORMED)
        claims = verify_token(self._key(), request.report_id, request.token, now.timestamp())
        try:
            revoked = self.revoked()
        except Exception:  # noqa: BLE001 - fail closed: a revocation we cannot read still holds
            raise LinkRefused(Refusal.DENY_LIST_UNAVAILABLE) from None
        if request.report_id in revoked:
            raise LinkRefused(Refusal.REVOKED)
        try:
            # The role may read report objects only (no ListBucket): a missing one is a 403 here too.
            self.s3.head_object(Bucket=self.bucket, Key=html_key)
        except Exception:  # noqa: BLE001 - absent or unreadable: either way nothing to open
            raise LinkRefused(Refusal.UNKNOWN_REPORT) from None
        location = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": html_key}, ExpiresIn=self.presign_seconds
        )
        return Opened(location=str(location), audit=self._audit(request, html_key, claims, now))

    def _key(self) -> TokenKey:
        try:
            return self.key()
        except SignerUnavailable:
            raise LinkRefused(Refusal.KEY_UNAVAILABLE) from None

    @staticmethod
    def _audit(request: ReportRequest, html_key: str, claims: TokenClaims, now: datetime) -> ReportOpened:
        return ReportOpened(
            opened_at=iso_utc(now),
            report_id=request.report_id,
            html_key=html_key,
            source_ip=request.source_ip,
            user_agent=request.user_agent,
            request_id=request.request_id,
            token_expires_at=iso_utc(datetime.fromtimestamp(claims.expires_at, UTC)),
            key_version=claims.key_version,
        )


def redirect(location: str) -> dict[str, Any]:
    """A 302 to the S3 link (payload format 2.0 response)."""
    return {"statusCode": 302, "headers": {**_HEADERS, "Location": location}, "body": ""}


def refused(request_id: str | None) -> dict[str, Any]:
    """The one 403 every refused link gets, in the API's one error shape."""
    return {
        "statusCode": 403,
        "headers": {**_HEADERS, "Content-Type": "application/json"},
        "body": json.dumps({"error": REFUSED_ERROR, "request_id": request_id}),
    }
