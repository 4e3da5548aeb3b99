"""Reports in S3: an HTML + JSON pair under time-sorted keys, the `latest` pointer, and report links.

A pre-signed link lasts no longer than the credentials that signed it, and nobody can tell who opened
it or take it back. So by default (ReportLinkSigner=Token) a link points at our own route,
`GET /reports/{report_id}?t=<token>`: the token is an HMAC-SHA256 over the report id, an expiry and
the key version, with a key kept in Secrets Manager. The reports function checks it, records who
opened what, and answers 302 to an S3 link it signs with its own role, valid for minutes. Minting
and checking live here, side by side. The older modes sign S3 links directly: with an IAM user's
access key (ReportLinkSigner=SignerUser, opt-in) or with the drift function's role (FunctionRole).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

# The kinds of report; `drift` ids carry no kind (they predate the others).
ReportKind = Literal["drift", "quality", "comparison"]
SIGNER_USER = "signer-user"
FUNCTION_ROLE = "function-role"
# The link opens through the reports route; its token, not a signature of S3's, is the credential.
LINK_TOKEN = "link-token"


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


def report_keys(
    prefix: str, start: datetime, end: datetime, run_at: datetime | None = None, kind: ReportKind = "drift"
) -> dict[str, str]:
    """Keys that sort by window, then by run: every run keeps its own report, reruns of a window sit side by side.

    A drift report's id is `<start>_<end>.run-...` (as before); another kind's is `<kind>.<start>_<end>.run-...`,
    its objects under that kind's own prefix.
    """
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
        "report_id": f"{stamp}.{run_id}" if kind == "drift" else f"{kind}.{stamp}.{run_id}",
    }


# <start>_<end>.run-<time>-<hex>: exactly what report_keys makes, so an id can only name a report key
# (no slashes, no dots beyond the one separator: nothing else of the bucket is reachable through it).
_STAMP = r"\d{8}T\d{4}(?:\d{2})?Z"
REPORT_ID = re.compile(
    rf"^(?:(?P<kind>quality|comparison)\.)?(?P<stamp>{_STAMP}_(?P<end>\d{{8}})T\d{{4}}(?:\d{{2}})?Z)\.(?P<run>run-\d{{8}}T\d{{6}}Z-[0-9a-f]{{6}})$"
)


# The report history's page (creditwatch_analytics.history): opened through the same route, with its own tokens.
INDEX_ID = "index"


def is_report_id(report_id: str) -> bool:
    """True for what the reports route may open: a report's id or the history index's."""
    return report_id == INDEX_ID or REPORT_ID.fullmatch(report_id) is not None


def report_html_key(prefix: str, report_id: str, kind_prefixes: Mapping[str, str] | None = None) -> str | None:
    """The HTML key a report id names, or None when it is not a report id.

    `prefix` is the drift reports' prefix; another kind's reports live under `kind_prefixes[kind]` (default: the kind);
    the index (id `index`) is `<kind_prefixes["history"]>/index.html` (default: history/index.html).
    """
    if report_id == INDEX_ID:
        return f"{(kind_prefixes or {}).get('history', 'history')}/index.html"
    m = REPORT_ID.fullmatch(report_id)
    if not m:
        return None
    if m.group("kind"):
        prefix = (kind_prefixes or {}).get(m.group("kind"), m.group("kind"))
    end = m.group("end")
    return f"{prefix}/reports/{end[:4]}/{end[4:6]}/{end[6:]}/{m.group('stamp')}/{m.group('run')}/report.html"


# ---------------------------------------------------------------------------- link tokens


class Refusal(StrEnum):
    """Why a report link was refused: logged and counted, never told to the caller."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    WRONG_KEY_VERSION = "wrong_key_version"
    REVOKED = "revoked"
    UNKNOWN_REPORT = "unknown_report"
    KEY_UNAVAILABLE = "key_unavailable"
    DENY_LIST_UNAVAILABLE = "deny_list_unavailable"


class LinkRefused(Exception):
    """A report link that does not open; `reason` is for the audit log only."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class TokenKey:
    """The HMAC key of report link tokens and its version (raised at each rotation)."""

    version: int
    key: bytes

    def __repr__(self) -> str:
        return f"TokenKey(version={self.version}, key=<redacted>)"

    @classmethod
    def from_secret(cls, value: Any) -> TokenKey:
        """The key from the secret's JSON: {"key_version": "1", "key": "<random>"}; ValueError if unusable."""
        if not isinstance(value, dict):
            raise ValueError("token secret is not a JSON object")
        key, version = value.get("key"), value.get("key_version")
        try:
            number = int(version)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError("token secret lacks an integer key_version") from None
        # 32 characters of letters and digits: well over 128 bits; a shorter key is a mistake.
        if not isinstance(key, str) or len(key) < 32 or number < 1:
            raise ValueError("token secret lacks a key of at least 32 characters")
        return cls(version=number, key=key.encode())


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: which key signed it and until when it opens its report."""

    key_version: int
    expires_at: int


def _mac(key: TokenKey, report_id: str, expires_at: int, version: int) -> str:
    # A fixed label first: a MAC made for anything else with this key can never pass as a link token.
    message = f"creditwatch-report-link\n{report_id}\n{expires_at}\n{version}".encode()
    digest = hmac.new(key.key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_token(key: TokenKey, report_id: str, expires_at: int) -> str:
    """A token `<key version>.<expiry, epoch seconds>.<HMAC-SHA256>` that opens report_id until expires_at."""
    return f"{key.version}.{expires_at}.{_mac(key, report_id, expires_at, key.version)}"


_TOKEN = re.compile(r"^(?P<version>[1-9]\d{0,5})\.(?P<expires>\d{1,12})\.(?P<mac>[A-Za-z0-9_-]{43})$")


def verify_token(key: TokenKey, report_id: str, token: str | None, now: float) -> TokenClaims:
    """The token's claims if it opens report_id now with this key, else LinkRefused with the reason."""
    m = _TOKEN.fullmatch(token or "")
    if not m or not is_report_id(report_id):
        raise LinkRefused(Refusal.MALFORMED)
    version, expires_at = int(m.group("version")), int(m.group("expires"))
    if version != key.version:
        # A rotated key: every link minted with the old one is dead.
        raise LinkRefused(Refusal.WRONG_KEY_VERSION)
    if not hmac.compare_digest(m.group("mac"), _mac(key, report_id, expires_at, version)):
        raise LinkRefused(Refusal.BAD_SIGNATURE)
    if expires_at <= now:
        raise LinkRefused(Refusal.EXPIRED)
    return TokenClaims(key_version=version, expires_at=expires_at)


# The deny-list parameter cannot be empty (SSM refuses ""): this value, alone, means no report is revoked.
NO_REVOKED_REPORTS = "none"


def revoked_ids(value: str | None) -> frozenset[str]:
    """Report ids of the deny-list parameter (a StringList: ids separated by commas)."""
    ids = {part.strip() for part in (value or "").split(",")}
    return frozenset(i for i in ids if i and i != NO_REVOKED_REPORTS)


def token_key_from_secret(
    get_secret: Callable[..., Any], secret_name: str, max_age_s: int = 300
) -> Callable[[], TokenKey]:
    """A reader of the token key kept in `secret_name` (Powertools Parameters, cached for max_age_s)."""

    def read() -> TokenKey:
        try:
            return TokenKey.from_secret(get_secret(secret_name, transform="json", max_age=max_age_s))
        except Exception as exc:  # noqa: BLE001 - no key, no token; the message never holds the key
            raise SignerUnavailable(f"secret {secret_name} not usable ({type(exc).__name__})") from None

    return read


@dataclass(frozen=True)
class TokenLinks:
    """Mints `<base_url>reports/<report_id>?t=<token>` links with the key `key` reads."""

    key: Callable[[], TokenKey]
    base_url: str

    def link(self, report_id: str, expires_at: int) -> str:
        """The link that opens report_id through the reports route until expires_at (epoch seconds)."""
        token = mint_token(self.key(), report_id, expires_at)
        return f"{self.base_url.rstrip('/')}/reports/{report_id}?t={token}"


# What a drift report's latest pointer repeats of its summary (another kind names its own).
DRIFT_POINTER_FIELDS = ("window_start", "window_end", "generated_at", "status", "dataset_drift", "drift_share")


class PublishError(Exception):
    """The report could not be written; earlier reports are as they were."""


@dataclass(frozen=True)
class Link:
    """A pre-signed report link and who signed it."""

    url: str
    signed_by: str
    warning: str | None = None
    # LINK_TOKEN links open until this moment; S3-signed ones until their signer's credentials end.
    expires_at: int | None = None


@dataclass
class Publisher:
    """S3 writes for one report: stage both objects, then move them into place, then the pointer."""

    s3: Any
    bucket: str
    # S3 clients on the signer user's key (see signing.py); None signs with the function's role.
    signer: Callable[[], Any] | None = None
    # Token links through the reports route (the default mode); wins over `signer` when set.
    tokens: TokenLinks | None = None

    def publish(
        self,
        keys: dict[str, str],
        html: bytes,
        summary: dict[str, Any],
        pointer_fields: Sequence[str] = DRIFT_POINTER_FIELDS,
    ) -> None:
        """Write HTML and summary under their keys, then update the latest pointer (the summary's pointer_fields)."""
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
            pointer = {k: summary.get(k) for k in pointer_fields}
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

    def link(self, keys: dict[str, str], expires_in: int, now: float | None = None) -> Link:
        """The report's link: a token link through the reports route when configured, else a pre-signed one."""
        if self.tokens is not None:
            expires_at = int(now if now is not None else datetime.now(UTC).timestamp()) + expires_in
            try:
                url = self.tokens.link(keys["report_id"], expires_at)
            except SignerUnavailable as exc:
                # The report is written either way: a link that works for hours beats none.
                link = self.presign(keys["html"], expires_in)
                return Link(url=link.url, signed_by=FUNCTION_ROLE, warning=f"{_ROLE_WARNING}: {exc}")
            return Link(url=url, signed_by=LINK_TOKEN, expires_at=expires_at)
        return self.presign(keys["html"], expires_in)

    def presign(self, key: str, expires_in: int) -> Link:
        """A pre-signed HTTPS GET link to key, signed by the signer user when there is one."""
        signer, signed_by, warning = self.s3, FUNCTION_ROLE, None
        if self.signer is not None:
            try:
                signer, signed_by = self.signer(), SIGNER_USER
            except SignerUnavailable as exc:
                # The report is written either way: a link that works for hours beats none.
                warning = f"{_ROLE_WARNING}: {exc}"
        url = signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return Link(url=str(url), signed_by=signed_by, warning=warning)


_ROLE_WARNING = "report link signed with the function role, valid only for its session"
