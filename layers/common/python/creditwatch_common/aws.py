"""AWS clients, created lazily in one place and handed to the code that needs them."""

from __future__ import annotations

import os
import threading
from functools import cached_property
from typing import Any

# botocore's standard retry mode backs off on throttling, 5xx and connection errors: for the jobs,
# which have minutes. Code with a deadline (the prediction log's writer) retries itself, on clients
# built with `request_path_config`: one attempt each, short timeouts.
RETRY = {"max_attempts": 4, "mode": "standard"}


def request_path_config(connect_timeout_s: float, read_timeout_s: float) -> dict[str, Any]:
    """The botocore Config options of a client whose caller owns retries and deadlines."""
    return {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": connect_timeout_s,
        "read_timeout": read_timeout_s,
    }


# `sam local invoke --env-vars` only sets variables the template declares, and AWS_ENDPOINT_URL is
# not one a deployed function should carry: the template declares LOCAL_AWS_ENDPOINT (empty when
# deployed) and a local run sets it to the moto server.
LOCAL_ENDPOINT_VAR = "LOCAL_AWS_ENDPOINT"


def apply_local_endpoint(endpoint: str | None) -> str | None:
    """Point every boto3 client of this process (ours and Powertools') at a local endpoint, if given.

    Per-service variables (AWS_ENDPOINT_URL_DYNAMODB, ...) still win over it, as boto3 decides.
    """
    endpoint = (endpoint or "").strip()
    if endpoint:
        os.environ.setdefault("AWS_ENDPOINT_URL", endpoint)
    return endpoint or None


# Building a boto3 session or client is not thread-safe; the log writer's threads may all ask at once.
BUILD_LOCK = threading.RLock()

_PERMANENT = {"ValidationException", "ResourceNotFoundException", "AccessDeniedException"}


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def is_permanent(exc: BaseException) -> bool:
    """Errors that no retry will fix."""
    return error_code(exc) in _PERMANENT


_process_session: Any = None


def process_session() -> Any:
    """The process's one default boto3 session: each new session parses botocore's models again (~0.07 s a client)."""
    global _process_session
    with BUILD_LOCK:
        if _process_session is None:
            import boto3

            _process_session = boto3.session.Session()
        return _process_session


class AwsClients:
    """One boto3 session per process; each client is built on first use.

    boto3 itself is imported on first use too: it costs about 0.2 s, which a cold start of the
    predict function should not pay before it has anything to write. Endpoints follow boto3's own
    AWS_ENDPOINT_URL setting, which is how the local moto stack is reached with no special case.
    """

    def __init__(self, session: Any = None, endpoint_url: str | None = None) -> None:
        # endpoint_url: every client of this object goes there (a local stack), whatever the environment says.
        self._session = session
        self._endpoint_url = endpoint_url

    @cached_property
    def session(self) -> Any:
        """The boto3 session: the one given, else the process's."""
        return self._session if self._session is not None else process_session()

    def client(self, service: str, *, access_key: tuple[str, str] | None = None, **config: Any) -> Any:
        """A client for any service, with the shared retry and timeout configuration.

        `access_key` (id, secret) signs with that key alone instead of the function's credentials.
        """
        from botocore.config import Config

        cfg = Config(**{"retries": RETRY, "connect_timeout": 3, "read_timeout": 10, **config})
        kwargs: dict[str, Any] = {"config": cfg}
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        if access_key is not None:
            # Explicit keys replace the whole credential chain: no session token from the environment.
            kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = access_key
        with BUILD_LOCK:
            return self.session.client(service, **kwargs)

    @cached_property
    def dynamodb(self) -> Any:
        """DynamoDB client."""
        return self.client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        """SQS client."""
        return self.client("sqs")

    @cached_property
    def s3(self) -> Any:
        """S3 client; SigV4 so that pre-signed links are valid in every region."""
        return self.client("s3", signature_version="s3v4")

    @cached_property
    def cloudwatch(self) -> Any:
        """CloudWatch client."""
        return self.client("cloudwatch")

    def lazy(self, service: str, **config: Any) -> LazyClient:
        """A stand-in that builds the client the first time it is used (`config`: botocore Config options)."""
        return LazyClient(self, service, config)


class LazyClient:
    """Stands in for a client and builds it on first attribute access."""

    def __init__(self, clients: AwsClients, service: str, config: dict[str, Any] | None = None) -> None:
        self._clients = clients
        self._service = service
        self._config = config or {}
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with BUILD_LOCK:  # one thread builds, the others wait for it
                if self._client is None:
                    if self._config:
                        self._client = self._clients.client(self._service, **self._config)
                    else:
                        self._client = getattr(self._clients, self._service)
        return getattr(self._client, name)
