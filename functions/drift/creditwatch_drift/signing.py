"""Who signs the report links, and for how long they really work.

A pre-signed link lasts no longer than the credentials that signed it. The function's role session
ends within hours, so a link it signs for 7 days stops working the same day. AWS's answer for links
of up to 7 days is an IAM user's access key: the template creates a user that may only read drift
reports and keeps its key in Secrets Manager (ReportLinkSigner=SignerUser).
"""

from __future__ import annotations

from collections.abc import Callable
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
