"""Assembles what an image function's Dockerfile would put in LAMBDA_TASK_ROOT, without Docker.

Only the instructions our Dockerfiles use are understood (FROM the AWS Lambda Python base image,
ARG (the template's DockerBuildArgs), COPY into ${LAMBDA_TASK_ROOT} or /tmp, RUN pip install -r ...
--target ${LAMBDA_TASK_ROOT}, RUN python -m compileall on task-root paths; CMD, ENV and LABEL are
ignored); anything else is an error, so a Dockerfile change that this emulation cannot follow fails
loudly instead of being skipped.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from creditwatch.paths import ROOT

TASK_ROOT_VARS = ("${LAMBDA_TASK_ROOT}", "$LAMBDA_TASK_ROOT", "/var/task")
BASE_IMAGE = re.compile(r"^public\.ecr\.aws/lambda/python:3\.11(\b|$)")


class ImageError(Exception):
    """The Dockerfile holds an instruction this emulation does not follow."""


@dataclass
class AssembledImage:
    """The task root an image would hold (the function's ImageConfig.Command names its handler)."""

    task_root: Path


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        out.append((op.upper(), rest.strip()))
    return out


def _in_task_root(dest: str, task_root: Path) -> Path | None:
    dest = dest.strip('"')
    for var in TASK_ROOT_VARS:
        if dest.startswith(var):
            return task_root / dest[len(var) :].lstrip("/")
    return None


def assemble(
    dockerfile: Path,
    task_root: Path,
    context: Path = ROOT,
    pip_args: list[str] | None = None,
    build_args: dict[str, str] | None = None,
) -> AssembledImage:
    """Follow the Dockerfile into task_root (pip installs with this interpreter, Python 3.11 like the image)."""
    task_root.mkdir(parents=True, exist_ok=True)
    tmp_files: dict[str, Path] = {}
    declared: dict[str, str] = {}
    for op, raw in _instructions(dockerfile.read_text()):
        rest = _expand(raw, declared)
        if op == "FROM":
            if not BASE_IMAGE.match(rest):
                raise ImageError(f"base image {rest!r} is not the AWS Lambda Python 3.11 image")
        elif op == "COPY":
            src_text, dest_text = shlex.split(rest)
            src = context / src_text
            if dest_text.startswith("/tmp/"):
                tmp_files[dest_text] = src
                continue
            dest = _in_task_root(dest_text, task_root)
            if dest is None:
                raise ImageError(f"COPY to {dest_text!r}: only LAMBDA_TASK_ROOT and /tmp are emulated")
            if src.is_dir():
                # COPY dir/ dest/ copies the folder's contents, as shutil.copytree does.
                shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest if not dest_text.endswith("/") else dest / src.name)
        elif op == "RUN":
            _run(rest, task_root, tmp_files, pip_args or [])
        elif op == "ARG":
            name, _, default = rest.partition("=")
            value = (build_args or {}).get(name, default)
            if not value:
                raise ImageError(f"ARG {name} has no value: the template's DockerBuildArgs must give one")
            declared[name] = value
        elif op in ("CMD", "ENV", "LABEL"):
            continue
        else:
            raise ImageError(f"Dockerfile instruction {op} is not emulated")
    return AssembledImage(task_root=task_root)


def _expand(text: str, declared: dict[str, str]) -> str:
    """${NAME} and $NAME of the ARGs declared so far, as docker build substitutes them."""
    for name, value in declared.items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def _run(command: str, task_root: Path, tmp_files: dict[str, Path], pip_args: list[str]) -> None:
    for part in (p.strip() for p in command.split("&&")):
        words = shlex.split(part)
        if words[:2] == ["rm", "-f"] or words[:1] == ["rm"]:
            continue  # removes build-time files from /tmp, which this emulation never wrote
        if words[:3] == ["python", "-m", "compileall"]:
            _compileall(words[3:], task_root)
            continue
        if words[:2] != ["pip", "install"]:
            raise ImageError(
                f"RUN {part!r} is not emulated (only pip install ... --target LAMBDA_TASK_ROOT and "
                "python -m compileall on LAMBDA_TASK_ROOT paths)"
            )
        args: list[str] = []
        it = iter(words[2:])
        for w in it:
            if w == "-r":
                req = next(it)
                args += ["-r", str(tmp_files.get(req, Path(req)))]
            elif w == "--target":
                target = _in_task_root(next(it), task_root)
                if target is None:
                    raise ImageError("pip install --target must be LAMBDA_TASK_ROOT")
                args += ["--target", str(target)]
            elif w == "--no-cache-dir":
                continue  # the image build wants a small layer; here the pip cache saves minutes
            else:
                args.append(w)
        # Keyed on what is installed, not where: a task root copied from another job's (the pip layer
        # Docker's cache shares between the jobs' builds) keeps its stamp.
        stamp = task_root / f".pip-{_digest([a.replace(str(task_root), '$LAMBDA_TASK_ROOT') for a in args])}"
        if stamp.exists():
            continue  # the same requirements are already installed in this task root
        proc = subprocess.run(
            # --no-compile: the image's pip compiles every dependency (a cold start's gain); here the first import
            # compiles what a job uses, and the install takes a third of the time (13 s against 43 s).
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                *args,
                *pip_args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ImageError(f"pip install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        stamp.touch()


def _compileall(args: list[str], task_root: Path) -> None:
    """`python -m compileall` on task-root paths, with this interpreter (Python 3.11, like the image)."""
    mapped = []
    for arg in args:
        if arg.startswith("-") or not any(arg.startswith(v) for v in TASK_ROOT_VARS):
            mapped.append(arg)
            continue
        path = _in_task_root(arg, task_root)
        if path is None or not path.exists():
            raise ImageError(f"compileall: {arg} is not in the task root")
        mapped.append(str(path))
    proc = subprocess.run([sys.executable, "-m", "compileall", *mapped], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"compileall failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _digest(args: list[str]) -> str:
    h = hashlib.sha256(" ".join(args).encode())
    for a in args:
        if Path(a).is_file():
            h.update(Path(a).read_bytes())
    return h.hexdigest()[:16]
