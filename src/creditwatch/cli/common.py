"""What every sub-command shares: the one-line failure, the local stack, the prediction log, jobs and JSON out."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from creditwatch import errors
from creditwatch.errors import CliError

if TYPE_CHECKING:
    from creditwatch.local.stack import StackState


# A deployed stack's log layout (the local stack's comes from template.yaml).
DeployedShards = Annotated[int, typer.Option("--shards", help="Deployed stack: its LogShards parameter")]


def sub_app(help_text: str) -> typer.Typer:
    """A sub-command group with plain click help, as the root's."""
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


def fail(message: str, code: int = errors.FAILED) -> NoReturn:
    """End the command with one `error:` line and a documented exit code."""
    raise CliError(message, code)


def print_json(value: Any) -> None:
    """A result as indented JSON on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def local_state() -> StackState:
    """The running local stack's state, or a one-line error when it is not up."""
    from creditwatch.local import stack

    try:
        return stack.require_state()
    except stack.StackError as exc:
        fail(str(exc), errors.STACK_DOWN)


def prediction_log() -> Any:
    """The local stack's prediction log (creditwatch_common.log.PredictionLog)."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.log import PredictionLog

    state = local_state()
    template = Template(endpoint=state.endpoint)
    return PredictionLog(
        dynamodb=stack.boto_client("dynamodb", state.endpoint),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        sqs=stack.boto_client("sqs", state.endpoint),
        spill_queue_url=template.ref("SpillQueue"),
    )


def require_port_free(host: str, port: int, option: str) -> None:
    """Fail with the port-taken code when something already holds host:port (as `local up` does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            fail(f"port {port} on {host} is taken: choose another with {option}", errors.UNREACHABLE)


def run_job(logical_id: str, event: dict[str, Any]) -> Any:
    """Invoke a job of the local stack as `creditwatch invoke` does; its result, or a one-line error."""
    from creditwatch.local.invoke import invoke as run
    from creditwatch.local.template import Template
    from creditwatch.progress import from_log

    state = local_state()
    # --debug shows the job's log as it is written; a terminal shows its progress lines as a bar.
    with from_log(echo=errors.debug_enabled()) as on_log:
        outcome = run(Template(endpoint=state.endpoint), logical_id, event, state.endpoint, on_log=on_log)
    if outcome.function_error:
        result = outcome.result if isinstance(outcome.result, dict) else {}
        fail(
            f"{logical_id} failed: {result.get('errorType', '?')}: {result.get('errorMessage', outcome.stderr[-300:])} "
            f"(creditwatch --debug {logical_id.removesuffix('Function').lower()} shows its log)",
            errors.FUNCTION_ERROR,
        )
    return outcome.result


def plain_errors(problems: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    """Pydantic-style errors as `field: message` clauses, the first `limit` then how many more (no URLs)."""
    shown = []
    for e in problems[:limit]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        if e.get("type") == "extra_forbidden":
            shown.append(f"unknown field {where}")
            continue
        # The value given, when it is one field's (a whole event's would be a Python repr).
        value = e.get("input")
        got = f" (got {value!r})" if e.get("loc") and isinstance(value, str | int | float) else ""
        message = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        shown.append(f"{where}: {message}{got}" if e.get("loc") else message)
    more = f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    return "; ".join(shown) + more


def instant(value: str, option: str, *, day: bool = False) -> datetime:
    """An ISO 8601 instant with its zone (or, with `day`, a bare day: its midnight UTC), in UTC; else a usage error."""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        expected = "a day (2026-09-01) or an ISO 8601 time" if day else "an ISO 8601 time (e.g. 2026-11-22T10:00:00Z)"
        fail(f"{option} {value} is not {expected}", errors.USAGE)
    if at.tzinfo is None:
        if not (day and len(value) == 10):
            fail(f"{option} {value} has no time zone (e.g. {value}Z for UTC)", errors.USAGE)
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def window(start: str | None, end: str | None, last: str | None, example: str) -> dict[str, str]:
    """A job event's window from `--last` or `--start`/`--end` (empty: the job's own window); else a usage error."""
    from datetime import UTC, datetime, timedelta

    from creditwatch.lookups import LookupProblem, parse_duration
    from creditwatch_common.ids import iso_utc

    if last is not None:
        if start or end:
            fail("give either --last or --start and --end, not both", errors.USAGE)
        try:
            span = parse_duration(last)
        except LookupProblem as exc:
            fail(str(exc), errors.USAGE)
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        return {"start": iso_utc(now - span), "end": iso_utc(now)}
    if start or end:
        if not (start and end):
            fail(f"give both --start and --end (or --last {example})", errors.USAGE)
        if instant(start, "--start") >= instant(end, "--end"):
            fail(f"--start {start} is not before --end {end}: the window would be empty", errors.USAGE)
        return {"start": start, "end": end}
    return {}
