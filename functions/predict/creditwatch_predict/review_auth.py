"""Who a reviewer is: the bearer token, checked here against the issuer's keys, and its reviewer group.

Deployed, API Gateway's JWT authorizer has checked the token before the function runs; the function
checks it again (signature against the issuer's JWKS, issuer, expiry, audience or client id), because
`creditwatch serve` has no gateway in front, and because a route wired without the authorizer by
mistake must still not let anyone decide. The group claim (`cognito:groups`) is checked only here: an
HTTP API JWT authorizer checks scopes, not groups. The identity is the token's user name, never a field
of the body.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# Tokens of Cognito (id and access tokens) name the user and the groups under these claims.
USER_CLAIMS = ("cognito:username", "username", "sub")
GROUP_CLAIM = "cognito:groups"
# An unknown key id makes the keys be fetched again (a rotation), at most this often.
REFRESH_EVERY_S = 60.0


class AuthError(Exception):
    """The request is not a reviewer's: 401 (no or bad token), 403 (not in the group), 503 (keys unreachable)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Reviewer:
    """A verified reviewer: the token's user name and its groups."""

    name: str
    groups: tuple[str, ...]


def fetch_jwks(url: str, timeout_s: float = 2.0) -> Callable[[], dict[str, Any]]:
    """A fetcher of the issuer's JSON Web Key Set over HTTPS (http only for a local issuer)."""

    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return orjson.loads(resp.read())  # type: ignore[no-any-return]

    return fetch


@dataclass
class ReviewerAuth:
    """Checks bearer tokens of one issuer and audience, and the reviewer group."""

    issuer: str
    audiences: frozenset[str]
    group: str
    fetch: Callable[[], dict[str, Any]]
    leeway_s: int = 30
    clock: Callable[[], float] = time.time
    _keys: Any = field(default=None, init=False, repr=False)
    _fetched_at: float = field(default=-1e18, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _key_set(self, refresh: bool) -> Any:
        from joserfc.jwk import KeySet

        with self._lock:
            stale = refresh and time.monotonic() - self._fetched_at > REFRESH_EVERY_S
            if self._keys is None or stale:
                try:
                    self._keys = KeySet.import_key_set(self.fetch())  # type: ignore[arg-type]
                except Exception as exc:
                    raise AuthError(
                        503, "review_unavailable", "the issuer's signing keys cannot be read: retry"
                    ) from exc
                self._fetched_at = time.monotonic()
            return self._keys

    def identify(self, authorization: str | None) -> Reviewer:
        """The reviewer of an `Authorization: Bearer <jwt>` header, or AuthError."""
        from joserfc import jwt
        from joserfc.errors import JoseError

        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "unauthorized", "Send a reviewer's token: Authorization: Bearer <JWT>")
        claims: dict[str, Any] | None = None
        for refresh in (False, True):
            try:
                claims = dict(jwt.decode(token.strip(), self._key_set(refresh), algorithms=["RS256"]).claims)
                break
            except AuthError:
                raise
            except (JoseError, ValueError) as exc:
                # A key we do not hold may be a rotation: the keys are fetched again (if not just fetched).
                if refresh:
                    raise AuthError(401, "unauthorized", "The token is not valid: sign in again") from exc
        assert claims is not None
        now = self.clock()
        if claims.get("iss") != self.issuer:
            raise AuthError(401, "unauthorized", "The token is from another issuer: sign in again")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + self.leeway_s < now:
            raise AuthError(401, "unauthorized", "The token has expired: sign in again")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] - self.leeway_s > now:
            raise AuthError(401, "unauthorized", "The token is not valid yet")
        audience = claims.get("aud") if claims.get("token_use") != "access" else claims.get("client_id")
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if self.audiences and not audiences & self.audiences:
            raise AuthError(401, "unauthorized", "The token is for another application: sign in again")
        groups = claims.get(GROUP_CLAIM) or []
        groups = tuple(groups) if isinstance(groups, list) else (str(groups),)
        if self.group not in groups:
            raise AuthError(403, "forbidden", f"Only members of the {self.group!r} group may review cases")
        name = next((str(claims[c]) for c in USER_CLAIMS if claims.get(c)), "")
        if not name:
            raise AuthError(401, "unauthorized", "The token names no user")
        return Reviewer(name=name, groups=groups)
