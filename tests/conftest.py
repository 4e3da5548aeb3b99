"""Shared fixtures: events from events/, the model, and moto with the template's resources."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# Offline and deterministic: fake credentials, one region, no endpoint override, no X-Ray daemon.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        "DO_NOT_TRACK": "1",
        "ITERATIVE_DO_NOT_TRACK": "1",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

# What makes a test need a stand-in server: `make check` (the edit loop) leaves such tests to `make test`.
SERVER_FIXTURES = frozenset({"_moto_clients", "local_stack", "fresh_cli", "server", "moto_server"})


def pytest_configure(config: pytest.Config) -> None:
    """moto in this process (mock_aws, threaded servers) runs patched as the local stack's server is."""
    from creditwatch.local.moto_patches import apply

    # Thread-safe partitions, and a Query that reads its own partition: a month's window is ~500 Queries,
    # each of which sorted the whole table (a third of tests/unit/test_quality.py's time).
    apply()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `server` every test whose fixtures start moto or a local stack; then order the files for two workers."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
    _alternate_waiting_and_busy_files(items)


def _alternate_waiting_and_busy_files(items: list[pytest.Item]) -> None:
    """e2e and integration files alternate with unit files, the largest unit files first (xdist sends them in order).

    An e2e or integration file mostly waits (on subprocesses, servers, deadlines: the e2e tier kept two cores
    68% busy); a unit file keeps its core busy. Run side by side, one worker's waits are the other's CPU.
    """
    from itertools import zip_longest

    files = list(dict.fromkeys(item.path for item in items))
    count = Counter(item.path for item in items)
    waiting = [f for f in files if f.parent.name != "unit"]
    busy = sorted((f for f in files if f.parent.name == "unit"), key=lambda f: -count[f])
    order = {f: i for i, f in enumerate(f for pair in zip_longest(waiting, busy) for f in pair if f is not None)}
    items.sort(key=lambda item: order[item.path])  # stable: a file's tests keep their order


# In-process tests run the template with these parameter values. Four log shards rather than the default 16:
# a window is read one Query per day and shard, and moto's per-request cost made those Queries a third of the
# unit tests' time; four still spreads every day over several partitions. (The local stack of the e2e tests
# runs the defaults.)
TEST_PARAMETERS = {"LogShards": "4"}


def _function_env() -> dict[str, str]:
    """Every function's environment as template.yaml resolves it locally (names of the moto resources)."""
    from creditwatch.local.template import Template

    template = Template(overrides=TEST_PARAMETERS)
    env: dict[str, str] = {}
    for lid in template.functions():
        spec = template.function(lid)
        env.update(
            {
                k: spec.map_opt(v)
                for k, v in spec.environment.items()
                if not k.startswith(("POWERTOOLS_SERVICE", "POWERTOOLS_TRACE"))
            }
        )
    return env


FUNCTION_ENV = _function_env()
os.environ.update(FUNCTION_ENV)


def load_event(name: str) -> dict[str, Any]:
    """An event file of events/, shared with `sam local invoke -e` and `creditwatch invoke -e`."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@pytest.fixture
def event() -> Any:
    """Loader of events/ files."""
    return load_event


@pytest.fixture(scope="session")
def model() -> Any:
    """The model as the layer ships it."""
    from creditwatch_model import load_model

    return load_model()


@pytest.fixture(scope="session")
def drift_counts(model: Any) -> Any:
    """What the drift job counts over a whole window: the shipped PSI bins and the protected groups."""
    from creditwatch_analytics.groups import group_specs
    from creditwatch_analytics.lake.sql import CountSpec
    from creditwatch_drift.stability import bin_specs, load_stability_bins

    bins = load_stability_bins()
    assert bins is not None
    return CountSpec(bin_specs(bins, model), group_specs((25,)))


@pytest.fixture(scope="session")
def _moto_clients() -> Any:
    """boto3 clients made once per test process: moto intercepts every client, so a new mock needs no new client."""
    import boto3

    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service, region_name="us-east-1")
        return clients[service]

    return client


@pytest.fixture
def aws(_moto_clients: Any) -> Iterator[Any]:
    """moto with every data resource of template.yaml created, as `creditwatch local up` creates them.

    Each test gets empty, freshly created resources (a new mock); the template is parsed once per process and
    the clients are made once, which is what made this fixture cost ~1.1 s a test.
    """
    from moto import mock_aws

    from creditwatch.local.resources import create_resources
    from creditwatch.local.template import Template

    with mock_aws():
        template = Template(overrides=TEST_PARAMETERS)
        create_resources(template, _moto_clients, webhook_url="http://127.0.0.1:9/never")
        yield template


@pytest.fixture
def ddb(aws: Any, _moto_clients: Any) -> Any:
    """DynamoDB client inside the moto context (the process's: a client costs ~0.1 s to make)."""
    return _moto_clients("dynamodb")


@pytest.fixture
def sqs(aws: Any, _moto_clients: Any) -> Any:
    """SQS client inside the moto context (the process's: a client costs ~0.1 s to make)."""
    return _moto_clients("sqs")


@pytest.fixture
def s3(aws: Any, _moto_clients: Any) -> Any:
    """S3 client inside the moto context (the process's: a client costs ~0.1 s to make)."""
    return _moto_clients("s3")


@pytest.fixture
def prediction_log(aws: Any, ddb: Any, sqs: Any) -> Any:
    """The prediction log on the moto table, spilling to the moto queue, without real sleeps."""
    from creditwatch_common.log import PredictionLog

    return PredictionLog(
        dynamodb=ddb,
        table=aws.ref("PredictionsTable"),
        shards=int(aws.parameters["LogShards"]),
        sqs=sqs,
        spill_queue_url=sqs.get_queue_url(QueueName=aws.physical_name("SpillQueue"))["QueueUrl"],
        sleep=lambda _s: None,
    )


@pytest.fixture
def handler(aws: Any, prediction_log: Any, model: Any) -> Any:
    """The predict function as its handler builds it, from the template's settings, on moto."""
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    settings = PredictSettings().model_copy(update={"spill_queue_url": prediction_log.spill_queue_url})
    return build(settings, AwsClients(), model=model)


# ---- the local stack, as a user starts it (a moto server in its own process) -------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cli:
    """Runs the `creditwatch` console script with the stack's state folder, as a user would."""

    def __init__(self, state_dir: Path) -> None:
        import shutil
        import sys

        self.exe = shutil.which("creditwatch", path=str(Path(sys.executable).parent)) or "creditwatch"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
        env.update({k: v for k, v in os.environ.items() if k in ("AWS_DEFAULT_REGION",)})
        for key in FUNCTION_ENV:
            env.pop(key, None)
        env["CREDITWATCH_STATE_DIR"] = str(state_dir)
        self.env = env
        self.state_dir = state_dir

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 600) -> Any:
        """Run one command; stdout and stderr captured; fails the test on a non-zero exit if check."""
        import subprocess

        proc = subprocess.run(
            [self.exe, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"creditwatch {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
            )
        return proc

    def json(self, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        """Run one command and parse its stdout as JSON."""
        return json.loads(self(*args, stdin=stdin, check=check).stdout)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`creditwatch local up` on free ports (moto server + Slack sink), one per test module; then `local down`."""
    from types import SimpleNamespace

    cli = Cli(tmp_path_factory.mktemp("stack-state"))
    port, sink_port = free_port(), free_port()
    cli("local", "up", "--port", str(port), "--sink-port", str(sink_port))
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield SimpleNamespace(cli=cli, endpoint=endpoint, sink_port=sink_port, state_dir=cli.state_dir)
    finally:
        cli("local", "down", check=False)


@pytest.fixture(scope="module")
def stack_client(local_stack: Any) -> Any:
    """boto3 clients on the local stack's moto server."""
    from creditwatch.local.stack import boto_client

    return lambda service: boto_client(service, local_stack.endpoint)


@pytest.fixture
def fresh_cli(tmp_path: Path) -> Cli:
    """The `creditwatch` CLI with an empty state folder (no stack running)."""
    return Cli(tmp_path / "state")


@pytest.fixture(autouse=True)
def _fresh_parameter_caches() -> Iterator[None]:
    """Powertools keeps secrets (and its clients) per process: a test never sees another test's moto values."""
    from aws_lambda_powertools.utilities.parameters import base

    base.clear_caches()
    yield
    base.clear_caches()


@pytest.fixture(autouse=True)
def _fresh_metric_set() -> Iterator[None]:
    """Powertools keeps the metric set on the class: a test never counts another test's unflushed metrics."""
    from aws_lambda_powertools import Metrics

    Metrics(namespace="tests").clear_metrics()
    yield
