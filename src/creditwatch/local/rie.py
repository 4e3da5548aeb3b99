"""Runs the `sam build` output of a zip function under the Lambda Runtime Interface Emulator, without Docker.

`sam local invoke` starts a container whose entry point is the emulator (`aws-lambda-rie`, shipped in
the aws-sam-cli package) running the runtime client (`awslambdaric`) on the built code, with the
layers merged into /opt. This module does the same in a scratch folder:

    <work>/task      the function's build folder (Lambda's /var/task, via a symlink)
    <work>/opt       the layers, merged in template order (Lambda's /opt)
    <work>/runtime   awslambdaric and what it needs (Lambda's /var/runtime)

and starts `aws-lambda-rie python -S -m awslambdaric <Handler>` with `-S` so that nothing of the
developer's virtualenv leaks into the function: a requirement missing from the build fails here.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditwatch.local.invoke import InvokeResult, function_environment
from creditwatch.local.template import Template, TemplateError, load_template_yaml
from creditwatch.paths import ROOT

BUILD_ROOT = ROOT / ".aws-sam" / "functions"
# What Lambda's /var/runtime holds for this purpose: the runtime client and its own dependencies.
RUNTIME_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py")
INVOCATIONS_PATH = "/2015-03-31/functions/function/invocations"


class RieError(Exception):
    """The emulator could not be found, started or reached."""


@dataclass
class BuiltFunction:
    """Where `sam build` put a function, as the emulator will run it."""

    logical_id: str
    handler: str
    task_root: Path
    layer_dirs: list[Path]
    timeout: int
    memory: int


def build_dir(logical_id: str) -> Path:
    """The folder `creditwatch build` (and `invoke --build`) uses for one function."""
    return BUILD_ROOT / logical_id


def sam_executable() -> str:
    """The SAM CLI: the project's pinned one first, then PATH."""
    pinned = ROOT / ".venv-sam" / "bin" / "sam"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("sam")
    if not found:
        raise RieError("the SAM CLI is not installed: run `make setup`")
    return found


def rie_binary() -> Path:
    """The emulator binary shipped inside the aws-sam-cli package (CREDITWATCH_RIE overrides)."""
    if os.environ.get("CREDITWATCH_RIE"):
        return Path(os.environ["CREDITWATCH_RIE"])
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]
    sam = Path(sam_executable()).resolve()
    # <venv>/bin/sam -> <venv>/lib/python3.X/site-packages/samcli/local/rapid/aws-lambda-rie-<arch>
    pattern = f"python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"
    found = next(iter(sorted((sam.parent.parent / "lib").glob(pattern))), None)
    if found:
        return found
    raise RieError(f"aws-lambda-rie-{arch} not found next to {sam}: is aws-sam-cli installed?")


def sam_build(logical_id: str, out: Path | None = None, region: str = "us-east-1") -> Path:
    """`sam build <LogicalId>` into a folder of its own (sam build of one function replaces the folder)."""
    out = out or build_dir(logical_id)
    cmd = [sam_executable(), "build", logical_id, "--build-dir", str(out), "--region", region]
    if "--use-container" in os.environ.get("CREDITWATCH_SAM_BUILD_FLAGS", ""):
        cmd.append("--use-container")
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
        check=False,
    )
    if proc.returncode != 0:
        raise RieError(f"sam build {logical_id} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return out


def built_function(logical_id: str, out: Path) -> BuiltFunction:
    """Read the built template: the function's build folder, its layers' folders, handler and limits."""
    template_path = out / "template.yaml"
    if not template_path.exists():
        raise RieError(f"{out} holds no `sam build` output: run `sam build {logical_id} --build-dir {out}`")
    doc = load_template_yaml(template_path.read_text())
    resources = doc.get("Resources", {})
    res = resources.get(logical_id)
    if not res or res["Type"] != "AWS::Serverless::Function":
        raise TemplateError(f"{logical_id} is not a function of the built template")
    props = {**doc.get("Globals", {}).get("Function", {}), **res.get("Properties", {})}
    if props.get("PackageType", "Zip") != "Zip":
        raise TemplateError(f"{logical_id} is an image function: the emulator here runs zip functions only")
    layers = []
    for layer in props.get("Layers", []):
        if not (isinstance(layer, dict) and "Ref" in layer):
            raise TemplateError(f"only layers of this template can run locally, not {layer!r}")
        layers.append((template_path.parent / resources[layer["Ref"]]["Properties"]["ContentUri"]).resolve())
    task_root = (template_path.parent / props["CodeUri"]).resolve()
    return BuiltFunction(
        logical_id=logical_id,
        handler=props["Handler"],
        task_root=task_root,
        layer_dirs=layers,
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
    )


def image_function(template: Template, logical_id: str, out: Path | None = None) -> BuiltFunction:
    """Assemble an image function's task root from its Dockerfile (see creditwatch.local.image)."""
    from creditwatch.local.image import assemble

    res = template.resources.get(logical_id, {})
    metadata = res.get("Metadata", {})
    if res.get("Properties", {}).get("PackageType") != "Image" or "Dockerfile" not in metadata:
        raise TemplateError(f"{logical_id} is not an image function with a Dockerfile")
    context = ROOT / metadata.get("DockerContext", ".")
    out = out or build_dir(logical_id)
    image = assemble(
        context / metadata["Dockerfile"], out / "task", context=context, build_args=metadata.get("DockerBuildArgs")
    )
    spec = template.function(logical_id)
    return BuiltFunction(
        logical_id=logical_id,
        handler=spec.handler,  # the function's ImageConfig.Command
        task_root=image.task_root,
        layer_dirs=[],
        timeout=spec.timeout,
        memory=spec.memory,
    )


def _runtime_dir(dest: Path) -> Path:
    """Lambda's /var/runtime: the runtime client from this interpreter's packages, linked in."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise RieError(f"{name} is not installed in {sys.prefix}: run `make setup`") from exc
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops:
            if top.endswith((".dist-info", ".egg-info")) or top in ("..", "__pycache__"):
                continue
            src = Path(str(dist.locate_file(top)))
            link = dest / top
            if src.exists() and not link.exists():
                link.symlink_to(src)
    return dest


def _merge_layers(layers: list[Path], opt: Path) -> Path:
    """Lambda extracts each layer into /opt in order; a later layer overwrites an earlier one's files."""
    opt.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        # Bytecode included: the built layers ship it (their Makefiles), as the deployed ones do.
        shutil.copytree(layer, opt, dirs_exist_ok=True)
    return opt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """One emulator process serving one function: start, invoke any number of times, stop."""

    def __init__(self, fn: BuiltFunction, env: dict[str, str], work: Path) -> None:
        self.fn = fn
        self.work = work
        self.port = _free_port()
        self.log_path = work / "rie.log"
        task = work / "task"
        if not task.exists():
            task.symlink_to(fn.task_root, target_is_directory=True)
        opt = _merge_layers(fn.layer_dirs, work / "opt")
        runtime = _runtime_dir(work / "runtime")
        resolved = {k: str(opt) + v[len("/opt") :] if v.startswith("/opt/") else v for k, v in env.items()}
        self.env = {
            # Only what Lambda sets: PATH and locale, nothing of the developer's shell.
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            **resolved,
            "LAMBDA_TASK_ROOT": str(task),
            "LAMBDA_RUNTIME_DIR": str(runtime),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "rie",
            "_HANDLER": fn.handler,
            # Lambda's python3.11 sys.path: task root, the layers' python folders, then the runtime.
            "PYTHONPATH": os.pathsep.join(
                [str(task), str(opt / "python/lib/python3.11/site-packages"), str(opt / "python"), str(runtime)]
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the emulator and wait until it accepts invocations."""
        log = self.log_path.open("ab")
        python = os.path.realpath(sys.executable)
        self.proc = subprocess.Popen(
            [
                str(rie_binary()),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{_free_port()}",
                "--log-level",
                "error",
                python,
                "-S",  # no site-packages: the function sees only its build, its layers and the runtime
                "-m",
                "awslambdaric",
                self.fn.handler,
            ],
            cwd=self.work / "task",
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RieError(f"the emulator exited ({self.proc.returncode}):\n{self.logs()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RieError(f"the emulator did not listen on port {self.port}:\n{self.logs()}")

    def logs(self) -> str:
        """Everything the emulator and the function wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def invoke(self, event: Any) -> tuple[Any, bool]:
        """POST the event as the Lambda Invoke API does; returns (result, function_error)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOCATIONS_PATH}",
            data=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.fn.timeout + 30) as resp:
                body = resp.read()
                function_error = bool(resp.headers.get("X-Amz-Function-Error"))
        except urllib.error.HTTPError as exc:
            body, function_error = exc.read(), True
        except OSError as exc:
            raise RieError(f"no answer from the emulator: {exc}\n{self.logs()}") from exc
        result = json.loads(body or b"null")
        if isinstance(result, dict) and {"errorMessage", "errorType"} <= result.keys():
            function_error = True
        return result, function_error

    def stop(self) -> None:
        """Stop the emulator and the runtime it started."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


@contextlib.contextmanager
def emulator(
    template: Template,
    logical_id: str,
    endpoint: str,
    out: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Emulator]:
    """A running emulator for the built function, environment resolved to the local stack."""
    out = out or build_dir(logical_id)
    spec = template.function(logical_id)
    fn = image_function(template, logical_id, out) if spec.package_type == "Image" else built_function(logical_id, out)
    env = function_environment(template.function(logical_id), endpoint, extra_env)
    # function_environment maps /opt to the source layers; the emulator gets the template's /opt paths.
    env.update({k: v for k, v in template.function(logical_id).environment.items() if v.startswith("/opt/")})
    with tempfile.TemporaryDirectory(prefix=f"creditwatch-rie-{logical_id}-") as tmp:
        emu = Emulator(fn, env, Path(tmp))
        emu.start()
        try:
            yield emu
        finally:
            emu.stop()


def invoke_built(
    template: Template,
    logical_id: str,
    event: Any,
    endpoint: str,
    out: Path | None = None,
    rebuild: bool = False,
) -> InvokeResult:
    """Build the function if needed, run it once under the emulator, return its result and logs."""
    out = out or build_dir(logical_id)
    is_image = template.function(logical_id).package_type == "Image"
    if not is_image and (rebuild or not (out / "template.yaml").exists()):
        sam_build(logical_id, out)
    with emulator(template, logical_id, endpoint, out) as emu:
        result, function_error = emu.invoke(event)
        logs = emu.logs()
    return InvokeResult(result=result, stdout=json.dumps(result), stderr=logs, returncode=1 if function_error else 0)
