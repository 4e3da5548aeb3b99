"""Reports in S3: an HTML + JSON pair under time-sorted keys, the `latest` pointer, and signed links.

A pre-signed link lasts no longer than the credentials that signed it. The function's role session
ends within hours, so a link it signs for 7 days stops working the same day. AWS's answer for links
of up to 7 days is an IAM user's access key: the template creates a user that may only read drift
reports and keeps its key in Secrets Manager (ReportLinkSigner=SignerUser).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SIGNER_USER = "signer-user"
FUNCTION_ROLE = "function-role"


class SignerUnavailable(Exception):
    """The signer's key could not be read or is not usable; the message never holds the key."""


def signer_from_secret(
    client: Callable[..., Any], get_secret: Callable[..., Any], secret_name: str, max_age_s: int = 300
) -> Callable[[], Any]:
    """A factory of S3 clients that sign with the access key kept in `secret_name`.

    The secret is read through Powertools Parameters (cached for `max_age_s`) on each call, so a
    rotated key is used from the next run on; one client is kept per key.
    """
    built: dict[str, Any] = {}

    def build() -> Any:
        try:
            value = get_secret(secret_name, transform="json", max_age=max_age_s)
        except Exception as exc:  # noqa: BLE001 - any reason means no signer; the run goes on
            # `from None`: a failed JSON transform may quote the secret in its message.
            raise SignerUnavailable(f"secret {secret_name} not readable ({type(exc).__name__})") from None
        key_id = value.get("access_key_id") if isinstance(value, dict) else None
        secret = value.get("secret_access_key") if isinstance(value, dict) else None
        if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
            raise SignerUnavailable(f"secret {secret_name} lacks access_key_id and secret_access_key")
        if key_id not in built:
            built.clear()
            built[key_id] = client("s3", access_key=(key_id, secret), signature_version="s3v4")
        return built[key_id]

    return build


def report_keys(prefix: str, start: datetime, end: datetime, run_at: datetime | None = None) -> dict[str, str]:
    """Keys that sort by window, then by run: every run keeps its own report, reruns of a window sit side by side."""
    # Scheduled windows fall on full hours (short stamps); on-demand ones keep their seconds, so two
    # different windows never share keys.
    fmt = "%Y%m%dT%H%MZ" if start.second == end.second == 0 else "%Y%m%dT%H%M%SZ"
    stamp = f"{start.strftime(fmt)}_{end.strftime(fmt)}"
    # The run's second, then random bits: two runs of one window in the same second still differ.
    run_id = f"run-{(run_at or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    base = f"{prefix}/reports/{end:%Y/%m/%d}/{stamp}/{run_id}"
    return {
        "html": f"{base}/report.html",
        "summary": f"{base}/summary.json",
        "latest": f"{prefix}/latest.json",
        "run_id": run_id,
    }


class PublishError(Exception):
    """The report could not be written; earlier reports are as they were."""


@dataclass(frozen=True)
class Link:
    """A pre-signed report link and who signed it."""

    url: str
    signed_by: str
    warning: str | None = None


@dataclass
class Publisher:
    """S3 writes for one report: stage both objects, then move them into place, then the pointer."""

    s3: Any
    bucket: str
    # S3 clients on the signer user's key (see signing.py); None signs with the function's role.
    signer: Callable[[], Any] | None = None

    def publish(self, keys: dict[str, str], html: bytes, summary: dict[str, Any]) -> None:
        """Write HTML and summary under their keys, then update the latest pointer."""
        staging = f"{keys['html'].split('/reports/')[0]}/_staging/{uuid.uuid4()}"
        staged = {"html": f"{staging}/report.html", "summary": f"{staging}/summary.json"}
        body = json.dumps(summary, indent=2).encode()
        try:
            # Staging uploads can fail freely: nothing a reader sees has changed yet.
            self.s3.put_object(
                Bucket=self.bucket, Key=staged["html"], Body=html, ContentType="text/html; charset=utf-8"
            )
            self.s3.put_object(Bucket=self.bucket, Key=staged["summary"], Body=body, ContentType="application/json")
            previous_html = self._head(keys["html"])
            self._copy(staged["html"], keys["html"])
            try:
                self._copy(staged["summary"], keys["summary"])
            except Exception:
                self._restore(keys["html"], previous_html)
                raise
            pointer = {
                k: summary.get(k)
                for k in ("window_start", "window_end", "generated_at", "status", "dataset_drift", "drift_share")
            }
            pointer.update({"report_html_key": keys["html"], "summary_key": keys["summary"]})
            self.s3.put_object(
                Bucket=self.bucket,
                Key=keys["latest"],
                Body=json.dumps(pointer, indent=2).encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            raise PublishError(
                f"report not written ({type(exc).__name__}: {exc}); earlier reports are unchanged"
            ) from exc
        finally:
            for key in staged.values():
                # Leftovers of a failed delete sit under _staging/ and expire with the lifecycle rule.
                with contextlib.suppress(Exception):
                    self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _head(self, key: str) -> str | None:
        """Version id of the object now at key (None if absent or the bucket is unversioned)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception:  # noqa: BLE001 - absent
            return None
        return str(head.get("VersionId") or "") or "unversioned"

    def _copy(self, source: str, target: str) -> None:
        self.s3.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source})

    def _restore(self, key: str, previous: str | None) -> None:
        """Put back what was at key before this run's copy (versioned bucket), or remove the new object."""
        try:
            if previous is None:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
            elif previous != "unversioned":
                self.s3.copy_object(
                    Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key, "VersionId": previous}
                )
        except Exception:  # noqa: BLE001 - best effort; the bucket's versions keep the old object
            pass

    def presign(self, key: str, expires_in: int) -> Link:
        """A pre-signed HTTPS GET link to key, signed by the signer user when there is one."""
        signer, signed_by, warning = self.s3, FUNCTION_ROLE, None
        if self.signer is not None:
            try:
                signer, signed_by = self.signer(), SIGNER_USER
            except SignerUnavailable as exc:
                # The report is written either way: a link that works for hours beats none.
                warning = f"report link signed with the function role, valid only for its session: {exc}"
        url = signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return Link(url=str(url), signed_by=signed_by, warning=warning)
