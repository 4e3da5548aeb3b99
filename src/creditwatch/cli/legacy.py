"""The old spellings of `report` and `simulate` (flags for modes), kept for one release with a deprecation line."""

from __future__ import annotations

import sys

REPORT = ("show", "list", "index", "revoke")
SIMULATE = ("traffic", "history")


def modernize(args: list[str]) -> list[str]:
    """The arguments with an old spelling rewritten to its sub-command (a note on stderr), others unchanged."""
    at = next((i for i, a in enumerate(args) if not a.startswith("-")), None)
    if at is None or args[at] not in ("report", "simulate"):
        return args
    command, rest = args[at], args[at + 1 :]
    subs = REPORT if command == "report" else SIMULATE
    if (rest and rest[0] in subs) or "--help" in rest or (command == "simulate" and not rest):
        return args
    new = _report(rest) if command == "report" else _simulate(rest)
    if new is None:
        return args
    sys.stderr.write(f"deprecated: use `creditwatch {command} {new[0]}`\n")
    return [*args[:at], command, *new]


def _report(rest: list[str]) -> list[str] | None:
    for flag in ("--list", "--index"):
        if flag in rest:
            return [flag.removeprefix("--"), *(a for a in rest if a != flag)]
    taken = _take(rest, "--revoke")
    if taken is not None:
        return ["revoke", *taken]
    return ["show", *rest]


def _simulate(rest: list[str]) -> list[str] | None:
    taken = _take(rest, "--history")
    if taken is not None:
        return ["history", *taken]
    return ["traffic", *rest]


def _take(rest: list[str], option: str) -> list[str] | None:
    """[value, *the other arguments] when `option VALUE` (or `option=VALUE`) is given, else None."""
    for i, a in enumerate(rest):
        if a.startswith(option + "="):
            return [a.split("=", 1)[1], *rest[:i], *rest[i + 1 :]]
        if a == option and i + 1 < len(rest):
            return [rest[i + 1], *rest[:i], *rest[i + 2 :]]
    return None
