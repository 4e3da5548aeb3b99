"""The local stack's reviewers: a Cognito user pool in moto (the twin of ReviewerJwtIssuer) and its tokens.

moto signs real RS256 tokens (`iss` https://cognito-idp.<region>.amazonaws.com/<pool id>, `cognito:groups`)
and serves the pool's keys at <endpoint>/<pool id>/.well-known/jwks.json: the predict app checks them as
it checks a deployed issuer's.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from creditwatch.local.template import LOCAL_REGION

POOL_NAME = "creditwatch-local-reviewers"
CLIENT_NAME = "creditwatch-review-page"


@dataclass(frozen=True)
class ReviewerPool:
    """The local pool: its id, its app client, and where its keys are."""

    pool_id: str
    client_id: str
    endpoint: str | None = None

    @property
    def issuer(self) -> str:
        """The `iss` of its tokens."""
        return f"https://cognito-idp.{LOCAL_REGION}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        """Its keys, as moto serves them (on the stack's endpoint)."""
        return f"{(self.endpoint or '').rstrip('/')}/{self.pool_id}/.well-known/jwks.json"

    def environment(self, group: str) -> dict[str, str]:
        """The predict function's review settings for this pool."""
        return {
            "REVIEW_JWT_ISSUER": self.issuer,
            "REVIEW_JWT_AUDIENCE": self.client_id,
            "REVIEW_JWKS_URL": self.jwks_url,
            "REVIEW_GROUP": group,
        }


def ensure_pool(cognito: Any, group: str, endpoint: str | None = None) -> ReviewerPool:
    """The local pool with its app client and reviewer group, created once (found by name afterwards)."""
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p["Name"] == POOL_NAME), None)
    if pool_id is None:
        pool_id = cognito.create_user_pool(PoolName=POOL_NAME)["UserPool"]["Id"]
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == CLIENT_NAME), None)
    if client_id is None:
        client_id = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=CLIENT_NAME, ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
    with contextlib.suppress(cognito.exceptions.GroupExistsException):
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    return ReviewerPool(pool_id=pool_id, client_id=client_id, endpoint=endpoint)


def find_pool(cognito: Any, endpoint: str | None = None) -> ReviewerPool | None:
    """The local pool if `local up` made one."""
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    pool_id = next((p["Id"] for p in pools if p["Name"] == POOL_NAME), None)
    if pool_id is None:
        return None
    clients = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
    client_id = next((c["ClientId"] for c in clients if c["ClientName"] == CLIENT_NAME), None)
    return None if client_id is None else ReviewerPool(pool_id=pool_id, client_id=client_id, endpoint=endpoint)


def issue_token(cognito: Any, pool: ReviewerPool, username: str, groups: tuple[str, ...] = ()) -> str:
    """An id token of a local user (created if new) in exactly these groups."""
    # Cognito's default policy: upper and lower case, a digit and a symbol.
    password = "Cw-" + secrets.token_hex(12) + "aA1!"
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(UserPoolId=pool.pool_id, Username=username, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool.pool_id, Username=username, Password=password, Permanent=True)
    held = {
        g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=pool.pool_id, Username=username)["Groups"]
    }
    for group in held - set(groups):
        cognito.admin_remove_user_from_group(UserPoolId=pool.pool_id, Username=username, GroupName=group)
    for group in set(groups) - held:
        cognito.admin_add_user_to_group(UserPoolId=pool.pool_id, Username=username, GroupName=group)
    auth = cognito.admin_initiate_auth(
        UserPoolId=pool.pool_id,
        ClientId=pool.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return str(auth["AuthenticationResult"]["IdToken"])
