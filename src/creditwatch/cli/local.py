"""The local stack (`local up|down|status|env-vars`) and what runs on it: `invoke`, `serve`, `slack`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from creditwatch import errors
from creditwatch.cli import common, render
from creditwatch.paths import ROOT

local_app = common.sub_app("The local stack: a moto server with the template's resources.")


@local_app.command("up")
def local_up(
    port: Annotated[int | None, typer.Option(help="moto server port (default: the running stack's, or 4566)")] = None,
    sink_port: Annotated[int, typer.Option(help="local Slack webhook sink port (0: none)")] = 4567,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 lets Docker containers reach it)")] = "127.0.0.1",
    webhook_url: Annotated[str | None, typer.Option(help="A real Slack webhook URL instead of the sink")] = None,
) -> None:
    """Start the moto server and create the resources template.yaml declares."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template

    try:
        state = stack.up(host=host, port=port, sink_port=sink_port or None, webhook_url=webhook_url)
    except stack.PortTaken as exc:
        common.fail(str(exc), errors.UNREACHABLE)
    except stack.StackError as exc:
        common.fail(str(exc), errors.USAGE)
    template = Template(endpoint=state.endpoint)
    render.stack_up(state, [(lid, kind, template.ref(lid)) for lid, kind, _ in template.data_resources()])


@local_app.command("down")
def local_down() -> None:
    """Stop the local stack (its state is lost)."""
    from creditwatch.local import stack

    typer.echo("local stack stopped" if stack.down() else "local stack was not running")


@local_app.command("status")
def local_status() -> None:
    """Say whether the local stack runs, and where."""
    from creditwatch.local import stack

    state = stack.load_state()
    if state is None:
        common.fail("the local stack is not running: start it with `creditwatch local up`", errors.STACK_DOWN)
    typer.echo(f"running on {state.endpoint} (pid {state.moto_pid}); Slack sink {state.sink_url or 'off'}")


@local_app.command("env-vars")
def local_env_vars(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")] = ROOT / "env" / "local.json",
    endpoint: Annotated[
        str, typer.Option(help="moto URL as the Lambda container sees it")
    ] = "http://host.docker.internal:4566",
) -> None:
    """Write the `sam local invoke --env-vars` file pointing every function at the local moto server."""
    from creditwatch.local.template import Template

    # SAM applies only variables the template declares: resource names resolved to the local
    # stack, and LOCAL_AWS_ENDPOINT (declared empty in Globals) for the endpoint.
    template = Template(endpoint=endpoint)
    doc = {}
    for lid in template.functions():
        env = dict(template.function(lid).environment)
        env["LOCAL_AWS_ENDPOINT"] = endpoint
        env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon next to the container
        doc[lid] = env
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(doc, indent=2) + "\n")
    typer.echo(f"wrote {output}")


def invoke(
    logical_id: Annotated[str, typer.Argument(help="Function of template.yaml, e.g. PredictFunction")],
    event: Annotated[
        str | None, typer.Option("--event", "-e", help="Event file, or - to read it from stdin (required)")
    ] = None,
    body: Annotated[
        bool,
        typer.Option(
            "--body",
            help="The event is a request body (an application, or a batch with `applications`): "
            "wrap it in an API Gateway event for /predict or /predict-batch",
        ),
    ] = False,
    build: Annotated[
        bool,
        typer.Option(
            "--build",
            help="Run the `sam build` output (image functions: the Dockerfile's task root) "
            "under the Lambda Runtime Interface Emulator",
        ),
    ] = False,
    build_dir: Annotated[
        Path | None, typer.Option(help="With --build: the build folder (default .aws-sam/functions/<LogicalId>)")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="With --build: run `sam build` even if a build exists")
    ] = False,
) -> None:
    """Invoke a function as `sam local invoke` does: JSON result on stdout, logs on stderr.

    The handler gets the template's Timeout (counted from the call, after init) and is stopped at it;
    AWS_ENDPOINT_URL_<SERVICE> variables of your environment reach the function.
    """
    from creditwatch.events import EventError, read_event, shape_problem, wrap_body
    from creditwatch.local.template import Template, TemplateError

    state = common.local_state()
    try:
        payload = read_event(event)
        if body:
            payload = wrap_body(payload)
        template = Template(endpoint=state.endpoint)
        template.function(logical_id)
    except (EventError, TemplateError) as exc:
        common.fail(str(exc), errors.USAGE)
    problem = shape_problem(logical_id, payload)
    if problem:
        common.fail(problem, errors.USAGE)
    if build:
        from creditwatch.local.image import ImageError
        from creditwatch.local.rie import RieError, invoke_built

        try:
            outcome = invoke_built(template, logical_id, payload, state.endpoint, out=build_dir, rebuild=rebuild)
        except (RieError, ImageError) as exc:
            common.fail(str(exc))
        sys.stderr.write(outcome.stderr)
    else:
        from creditwatch.local.invoke import invoke as run
        from creditwatch.progress import from_log

        # The log as the function writes it; a job's progress lines also move a bar on a terminal.
        with from_log(echo=True) as on_log:
            outcome = run(template, logical_id, payload, state.endpoint, on_log=on_log)
    common.print_json(outcome.result)
    if outcome.function_error:
        raise typer.Exit(errors.FUNCTION_ERROR)


def serve(
    port: Annotated[int, typer.Option(help="Port of the API")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            help="A template parameter for this API, Name=Value (repeatable), as sam's --parameter-overrides: "
            "e.g. --parameter ReviewBand=0.05 --parameter ReviewOutOfRange=1 turn referral on",
        ),
    ] = None,
) -> None:
    """Serve the API on http://127.0.0.1:8000 against the local stack: predict (Swagger UI at /docs) and report links.

    GET /reports/{report_id}?t=<token> runs the reports function, as the HTTP API's route does; the
    reviewers' page is at /review (tokens of the local stack's Cognito pool).
    """
    import os

    import uvicorn

    from creditwatch.local.gateway import with_reports_route
    from creditwatch.local.invoke import function_environment
    from creditwatch.local.template import Template
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings
    from creditwatch_reports.app import build as build_reports
    from creditwatch_reports.settings import ReportsSettings

    # uvicorn exits 3 (our "stack not running") on a port it cannot bind: say it, with `local up`'s code.
    common.require_port_free(host, port, "--port")
    state = common.local_state()
    template = Template(endpoint=state.endpoint, overrides=_parameters(parameter or [], Template().parameters))
    spec = template.function("PredictFunction")
    # MODEL_ALIAS_CHECK_MS 0: a champion promoted (creditwatch model promote) answers from the next request.
    env = function_environment(spec, state.endpoint, {"FLUSH_METRICS_PER_REQUEST": "true", "MODEL_ALIAS_CHECK_MS": "0"})
    # No gateway here: the app itself checks reviewers' tokens, against the local stack's Cognito pool.
    from creditwatch.local.reviewers import ensure_pool
    from creditwatch.local.stack import boto_client

    pool = ensure_pool(boto_client("cognito-idp", state.endpoint), env.get("REVIEW_GROUP", "reviewers"), state.endpoint)
    env.update(pool.environment(env.get("REVIEW_GROUP", "reviewers")))
    # Powertools and boto3 read these from the process environment (credentials, region, endpoint).
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "POWERTOOLS_"))})
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    from pydantic import ValidationError

    try:
        settings = PredictSettings.model_validate(env)
    except ValidationError as exc:
        common.fail(f"--parameter: {common.plain_errors(exc.errors())}", errors.USAGE)
    service = build(settings, AwsClients())
    reports_env = function_environment(template.function("ReportsFunction"), state.endpoint)
    reports = build_reports(ReportsSettings.model_validate(reports_env), AwsClients())
    typer.echo(
        f"API on http://{host}:{port} (Swagger UI: http://{host}:{port}/docs; report links: /reports/<id>?t=...; "
        f"reviewers: http://{host}:{port}/review)",
        err=True,
    )
    uvicorn.run(with_reports_route(service.app, reports.handler), host=host, port=port, log_level="info")


def _parameters(given: list[str], known: dict[str, str]) -> dict[str, str]:
    """`--parameter Name=Value` options as template parameter overrides (a usage error for an unknown name)."""
    out: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            common.fail(f"--parameter {item} is not Name=Value (e.g. ReviewBand=0.05)", errors.USAGE)
        if name not in known:
            common.fail(f"--parameter {name}: template.yaml has no such parameter", errors.USAGE)
        out[name] = value
    return out


def slack(as_json: Annotated[bool, typer.Option("--json", help="Print raw payloads")] = False) -> None:
    """Show the messages the local Slack webhook sink received."""
    from creditwatch.local import stack
    from creditwatch.local.slack_sink import read_messages

    state = common.local_state()
    if not state.sink_url:
        common.fail("the local stack runs without the Slack sink (started with --sink-port 0)", errors.USAGE)
    messages = read_messages(stack.state_dir() / "slack-messages.jsonl")
    if as_json:
        common.print_json(messages)
        return
    render.slack_messages(messages)


def register(app: typer.Typer) -> None:
    """Add the top-level commands that run on the local stack."""
    app.command()(invoke)
    app.command()(serve)
    app.command()(slack)
