"""Starts and stops the local moto server and creates in it the template's data resources."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from creditwatch.local.resources import create_resources
from creditwatch.local.template import LOCAL_REGION, Template
from creditwatch.paths import STATE_DIR
from creditwatch_common.aws import BUILD_LOCK

DEFAULT_PORT = 4566
# Where `creditwatch serve` answers: the base of report links minted locally (set it when serving elsewhere).
API_URL_VAR = "CREDITWATCH_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8000/"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class StackError(Exception):
    """The local stack cannot do what was asked."""


class StackNotRunning(StackError):
    """No local stack runs (in this state folder)."""


class PortTaken(StackError):
    """Something else listens on the port asked for."""


_state_dir = [STATE_DIR]


def state_dir() -> Path:
    """The folder holding the stack's state file, logs and Slack sink messages."""
    return _state_dir[0]


def state_file() -> Path:
    """The file `up` writes and later commands read."""
    return state_dir() / "local-stack.json"


@contextlib.contextmanager
def using_state_dir(path: Path) -> Iterator[Path]:
    """Run stack commands on the stack of another state folder (the demo's own), then switch back."""
    previous = _state_dir[0]
    _state_dir[0] = path
    try:
        yield path
    finally:
        _state_dir[0] = previous


@dataclass
class StackState:
    """What `local up` started, kept on disk so that later commands find it."""

    host: str
    port: int
    moto_pid: int
    sink_port: int | None = None
    sink_pid: int | None = None

    @property
    def endpoint(self) -> str:
        """Moto's URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def sink_url(self) -> str | None:
        """The local Slack webhook sink's URL."""
        return f"http://{self.host}:{self.sink_port}/services/local/creditwatch" if self.sink_port else None


def load_state() -> StackState | None:
    """The running stack, or None."""
    if not state_file().exists():
        return None
    state = StackState(**json.loads(state_file().read_text()))
    return state if _alive(state.moto_pid) else None


def require_state() -> StackState:
    """The running stack, or a clear error."""
    state = load_state()
    if state is None:
        raise StackNotRunning("the local stack is not running: start it with `creditwatch local up`")
    return state


def local_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 at the local stack."""
    return {
        **LOCAL_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
    }


def local_api_url() -> str:
    """The local API's base URL (`creditwatch serve`), ending in a slash."""
    return (os.environ.get(API_URL_VAR) or DEFAULT_API_URL).rstrip("/") + "/"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # A process that exited but was never reaped (its parent, the `local up` that spawned it, is gone and
    # not every init reaps) still answers signal 0: it is dead all the same, and waiting on it cost `down` 5 s.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port."""
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error still means the server answers
                return
            time.sleep(0.1)
    raise StackError(f"nothing answered at {url} after {seconds:.0f} s")


def _spawn(args: list[str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return proc.pid


def up(
    host: str = "127.0.0.1", port: int | None = None, sink_port: int | None = 4567, webhook_url: str | None = None
) -> StackState:
    """Start moto (and the Slack sink) if needed, then create every data resource of the template.

    port None: the running stack's, or DEFAULT_PORT for a new one; a port other than the running
    stack's is an error rather than a silent report of the old one.
    """
    state = load_state()
    if state is not None and port is not None and (state.host, state.port) != (host, port):
        raise StackError(
            f"a local stack already runs on {state.endpoint}: use it, or stop it first "
            f"(creditwatch local down) to start one on {host}:{port}"
        )
    if state is None:
        port = port or DEFAULT_PORT
        if not port_free(host, port):
            raise PortTaken(f"port {port} on {host} is taken: choose another with --port")
        # A sink that cannot bind dies quietly, and alerts would then go to whatever holds its port.
        if sink_port and not port_free(host, sink_port):
            raise PortTaken(
                f"the Slack sink's port {sink_port} on {host} is taken: choose another with --sink-port (0: no sink)"
            )
        moto_pid = _spawn(
            [sys.executable, "-m", "creditwatch.local.moto_patches", "-H", host, "-p", str(port)],
            state_dir() / "moto.log",
        )
        state = StackState(host=host, port=port, moto_pid=moto_pid)
        try:
            _wait_http(f"{state.endpoint}/moto-api/")
        except StackError:
            _kill(moto_pid)
            raise
        if sink_port:
            # A new stack starts with an empty channel, as its moto state starts empty.
            (state_dir() / "slack-messages.jsonl").unlink(missing_ok=True)
            state.sink_port = sink_port
            state.sink_pid = _spawn(
                [
                    sys.executable,
                    "-m",
                    "creditwatch.local.slack_sink",
                    "--host",
                    host,
                    "--port",
                    str(sink_port),
                    "--store",
                    str(state_dir() / "slack-messages.jsonl"),
                ],
                state_dir() / "slack-sink.log",
            )
            try:
                _wait_http(f"http://{host}:{sink_port}/health")
            except StackError:
                _kill(state.sink_pid)
                _kill(moto_pid)
                raise
        state_dir().mkdir(parents=True, exist_ok=True)
        state_file().write_text(json.dumps(asdict(state), indent=2))
    create_resources(
        Template(endpoint=state.endpoint),
        lambda service: boto_client(service, state.endpoint),
        webhook_url=webhook_url or state.sink_url or "",
    )
    from creditwatch.registry import bootstrap_local

    # The model the layer ships is the first champion (a registry that has one keeps it).
    bootstrap_local(state.endpoint)
    return state


def _kill(pid: int | None) -> None:
    if _alive(pid):
        assert pid is not None
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                return
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)


def down() -> bool:
    """Stop what `up` started; False if nothing was running."""
    if not state_file().exists():
        return False
    state = StackState(**json.loads(state_file().read_text()))
    _kill(state.moto_pid)
    _kill(state.sink_pid)
    state_file().unlink(missing_ok=True)
    return True


@functools.cache
def local_session() -> Any:
    """The boto3 session of every local-stack client in this process (moto's fake credentials).

    One session: each new one parses botocore's endpoint and service models again (~0.3 s a client), which
    was half of `local up` (22 clients) and a second or more of most commands.
    """
    import boto3

    with BUILD_LOCK:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
        )


def boto_client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client on the local stack (`config`: botocore Config options)."""
    from botocore.config import Config

    session = local_session()
    with BUILD_LOCK:  # a session builds clients one thread at a time
        return session.client(service, endpoint_url=endpoint, config=Config(**config))
