"""The CLI's one error path: expected failures become one `error: ...` line and a documented exit code."""

from __future__ import annotations

import os
from dataclasses import dataclass

# Exit codes, documented in docs/develop.md and in `creditwatch --help`.
OK = 0
FAILED = 1  # the command ran and its outcome is a failure (a demo step, a missing record or report)
USAGE = 2  # a bad option, argument, id or event file (click's own usage errors use 2 too)
STACK_DOWN = 3  # the local stack is not running
FUNCTION_ERROR = 4  # the function raised or timed out (invoke, drift, alerts)
CREDENTIALS = 5  # no AWS credentials, or they expired (SSO session, session token)
UNREACHABLE = 6  # a port is taken, or an endpoint does not answer
UNEXPECTED = 70  # a bug: rerun with --debug and report the traceback

EXIT_CODES = {
    OK: "success",
    FAILED: "the command ran and its outcome is a failure (a demo step, no such record or report)",
    USAGE: "bad usage: an option, argument, id or event file (missing, not JSON, wrong shape)",
    STACK_DOWN: "the local stack is not running (creditwatch local up)",
    FUNCTION_ERROR: "the function raised or timed out (invoke, drift, alerts)",
    CREDENTIALS: "no AWS credentials, or expired ones (aws sso login)",
    UNREACHABLE: "a port is taken or an endpoint does not answer",
    UNEXPECTED: "unexpected error (a bug): rerun with --debug and report the traceback",
}

DEBUG_VAR = "CREDITWATCH_DEBUG"


@dataclass
class CliError(Exception):
    """An expected failure: what happened and what to do next, and the exit code."""

    message: str
    code: int = FAILED

    def __str__(self) -> str:
        return self.message


def debug_enabled() -> bool:
    """True when tracebacks are wanted (--debug sets the variable too)."""
    return os.environ.get(DEBUG_VAR, "").lower() not in ("", "0", "false", "no")


_CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestExpired",
}


def explain(exc: BaseException) -> CliError:
    """The one-line error for an exception: a known failure with its next step, or an unexpected one."""
    if isinstance(exc, CliError):
        return exc
    known = _registry(exc) or _aws(exc) or _network(exc) or _files(exc)
    if known is not None:
        return known
    return CliError(
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback, and report it)", UNEXPECTED
    )


def _registry(exc: BaseException) -> CliError | None:
    from creditwatch_common.registry import RegistryError, RegistryUnreachable

    if isinstance(exc, RegistryUnreachable):
        return CliError(f"{exc}: is the local stack up (creditwatch local status), or --bucket right?", UNREACHABLE)
    if isinstance(exc, RegistryError):
        return CliError(str(exc), FAILED)
    return None


def _aws(exc: BaseException) -> CliError | None:
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover - botocore is a dependency
        return None
    sso = tuple(
        getattr(bx, name)
        for name in ("SSOTokenLoadError", "TokenRetrievalError", "UnauthorizedSSOTokenError", "SSOError")
        if hasattr(bx, name)
    )
    if sso and isinstance(exc, sso):
        return CliError(
            f"your AWS SSO session is missing or expired ({type(exc).__name__}): run `aws sso login` and retry",
            CREDENTIALS,
        )
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return CliError(
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE "
            "(commands without --bucket/--table use the local stack and need none)",
            CREDENTIALS,
        )
    if isinstance(exc, bx.NoRegionError):
        return CliError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION (or --region in your profile)", USAGE)
    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _CREDENTIAL_CODES:
            return CliError(
                f"AWS refused your credentials ({code}): refresh them (aws sso login) and retry", CREDENTIALS
            )
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            return CliError(f"AWS denied access ({code}): {exc}; check the role or profile you use", FAILED)
        return None
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return CliError(
            f"cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'the AWS endpoint')}: {exc}; "
            "is the local stack up (creditwatch local status) or your network on?",
            UNREACHABLE,
        )
    return None


def _network(exc: BaseException) -> CliError | None:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        httpx = None  # type: ignore[assignment]
    if httpx is not None and isinstance(exc, httpx.TransportError):
        url = exc.request.url if _has_request(exc) else "the endpoint"
        return CliError(
            f"cannot reach {url} ({type(exc).__name__}): start the API with `creditwatch serve` "
            "or give its address with --url",
            UNREACHABLE,
        )
    if isinstance(exc, ConnectionError | TimeoutError):
        return CliError(f"connection failed: {exc}; is the service running?", UNREACHABLE)
    return None


def _has_request(exc: BaseException) -> bool:
    try:
        return getattr(exc, "request", None) is not None
    except RuntimeError:  # httpx raises when the error has no request attached
        return False


def _files(exc: BaseException) -> CliError | None:
    if isinstance(exc, FileNotFoundError):
        return CliError(f"no such file: {exc.filename}", USAGE)
    if isinstance(exc, IsADirectoryError):
        return CliError(f"{exc.filename} is a folder, not a file", USAGE)
    if isinstance(exc, PermissionError):
        return CliError(f"permission denied: {exc.filename}", USAGE)
    return None
