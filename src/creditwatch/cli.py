"""The `creditwatch` command: train the model, run the stack locally, invoke functions, simulate traffic."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from creditwatch import errors
from creditwatch.errors import CliError
from creditwatch.paths import ROOT

if TYPE_CHECKING:
    from creditwatch.local.stack import StackState


def _epilog() -> str:
    # "\b" keeps click from re-flowing the lines of the block that follows.
    codes = "\n".join(f"  {code:<3} {meaning}" for code, meaning in errors.EXIT_CODES.items())
    return (
        "\b\nExit codes (docs/develop.md):\n"
        f"{codes}\n\n"
        "Expected failures print one `error: ...` line; --debug (or CREDITWATCH_DEBUG=1) adds the traceback."
    )


# Plain click help: flags show as flags (rich help labels them `<bool>`), and nothing is boxed or wrapped.
app = typer.Typer(
    help=__doc__,
    epilog=_epilog(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
local_app = typer.Typer(
    help="The local stack: a moto server with the template's resources.", no_args_is_help=True, rich_markup_mode=None
)
log_app = typer.Typer(help="Read (and erase from) the prediction log.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(local_app, name="local")
app.add_typer(log_app, name="log")


def _fail(message: str, code: int = errors.FAILED) -> NoReturn:
    raise CliError(message, code)


def _version() -> str:
    import importlib.metadata

    from creditwatch_model import METADATA_FILE, model_dir

    try:
        package = importlib.metadata.version("creditwatch")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without install
        package = "unknown"
    meta = json.loads((model_dir() / METADATA_FILE).read_text())
    return f"creditwatch {package}; model {meta['name']} version {meta['version']} (trained {meta.get('trained_at')})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(_version())
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of a failure (also CREDITWATCH_DEBUG=1)")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the package and model versions"),
    ] = False,
) -> None:
    """Train the model, run the stack locally, invoke functions, simulate traffic, drive the monitoring loop."""
    import os

    if debug:
        os.environ[errors.DEBUG_VAR] = "1"


def _local_state() -> StackState:
    """The running local stack's state, or a one-line error when it is not up."""
    from creditwatch.local import stack

    try:
        return stack.require_state()
    except stack.StackError as exc:
        _fail(str(exc), errors.STACK_DOWN)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Where to write the layer artifacts")] = ROOT
    / "layers/model/python/creditwatch_model/artifacts",
    trained_at: Annotated[str | None, typer.Option(help="Pin metadata's trained_at (ISO 8601)")] = None,
) -> None:
    """Train the model and regenerate every artifact of the model layer (deterministic)."""
    from creditwatch.training import train as run_training

    result = run_training(out, trained_at=trained_at)
    m = result.metadata
    holdout = m["metrics"]["holdout"]
    typer.echo(f"model {m['name']} version {m['version']} -> {out}")
    typer.echo(
        f"holdout ROC AUC {holdout['roc_auc']:.4f}; threshold {m['decision']['threshold']} "
        f"(expected cost {holdout['expected_cost_at_threshold']:.3f} vs {holdout['expected_cost_at_0_5']:.3f} at 0.5)"
    )


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
        _fail(str(exc), errors.UNREACHABLE)
    except stack.StackError as exc:
        _fail(str(exc), errors.USAGE)
    template = Template(endpoint=state.endpoint)
    typer.echo(f"local stack on {state.endpoint} (pid {state.moto_pid})")
    for lid, kind, _ in template.data_resources():
        typer.echo(f"  {kind:<30} {lid:<26} {template.ref(lid)}")
    if state.sink_url:
        typer.echo(f"  Slack webhook sink            {state.sink_url}  (creditwatch slack)")


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
        _fail("the local stack is not running: start it with `creditwatch local up`", errors.STACK_DOWN)
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


@app.command()
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
    from creditwatch.events import EventError, read_event, wrap_body
    from creditwatch.local.template import Template, TemplateError

    state = _local_state()
    try:
        payload = read_event(event)
        if body:
            payload = wrap_body(payload)
        template = Template(endpoint=state.endpoint)
        template.function(logical_id)
    except EventError as exc:
        _fail(str(exc), errors.USAGE)
    except TemplateError as exc:
        _fail(str(exc), errors.USAGE)
    from creditwatch.events import shape_problem

    problem = shape_problem(logical_id, payload)
    if problem:
        _fail(problem, errors.USAGE)
    if build:
        from creditwatch.local.image import ImageError
        from creditwatch.local.rie import RieError, invoke_built

        try:
            outcome = invoke_built(template, logical_id, payload, state.endpoint, out=build_dir, rebuild=rebuild)
        except (RieError, ImageError) as exc:
            _fail(str(exc))
    else:
        from creditwatch.local.invoke import invoke as run

        outcome = run(template, logical_id, payload, state.endpoint)
    sys.stderr.write(outcome.stderr)
    _print_json(outcome.result)
    if outcome.function_error:
        raise typer.Exit(errors.FUNCTION_ERROR)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the API")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
) -> None:
    """Serve the API on http://127.0.0.1:8000 against the local stack: predict (Swagger UI at /docs) and report links.

    GET /reports/{report_id}?t=<token> runs the reports function, as the HTTP API's route does.
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

    state = _local_state()
    template = Template(endpoint=state.endpoint)
    spec = template.function("PredictFunction")
    env = function_environment(spec, state.endpoint, {"FLUSH_METRICS_PER_REQUEST": "true"})
    # Powertools and boto3 read these from the process environment (credentials, region, endpoint).
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "POWERTOOLS_"))})
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    service = build(PredictSettings.model_validate(env), AwsClients())
    reports_env = function_environment(template.function("ReportsFunction"), state.endpoint)
    reports = build_reports(ReportsSettings.model_validate(reports_env), AwsClients())
    typer.echo(
        f"API on http://{host}:{port} (Swagger UI: http://{host}:{port}/docs; report links: /reports/<id>?t=...)",
        err=True,
    )
    uvicorn.run(with_reports_route(service.app, reports.handler), host=host, port=port, log_level="info")


@app.command()
def explain(
    event: Annotated[
        str | None, typer.Option("--event", "-e", help="An API event (events/predict-*.json) or an application's JSON")
    ] = None,
    prediction_id: Annotated[
        str | None, typer.Option("--prediction-id", help="Rebuild a logged decision's reasons from the local log")
    ] = None,
    counterfactual: Annotated[bool, typer.Option(help="For a refusal, also the smallest approved change")] = False,
) -> None:
    """Print a decision with its reasons as a table: scored here from an event, or rebuilt from the log."""
    from rich.console import Console
    from rich.table import Table

    from creditwatch_model import load_model
    from creditwatch_model.counterfactual import counterfactual as search
    from creditwatch_model.explain import reasons_from_record
    from creditwatch_predict.schemas import build_application_model
    from creditwatch_predict.service import score_applications

    if (event is None) == (prediction_id is None):
        _fail("give --event FILE or --prediction-id ID")
    model = load_model()
    if prediction_id is not None:
        record = _prediction_log().get(prediction_id)
        if record is None or not record.contributions or not record.features:
            _fail(f"no explained record {prediction_id}")
        row, reasons = record.features, reasons_from_record(model.schema, record.model_dump())
        decision, p_good = str(record.decision), float(record.probability_good_credit or 0.0)
        title = f"{prediction_id}: logged by model {record.model_version} at {record.ts}"
    else:
        assert event is not None
        payload = json.loads(Path(event).read_text() if event != "-" else sys.stdin.read())
        body = json.loads(payload["body"]) if isinstance(payload.get("body"), str) else payload
        try:
            row = build_application_model(model.schema).model_validate(body).model_dump()
        except ValueError as exc:
            _fail(f"not a valid application: {exc}")
        (scored,) = score_applications(model, [row], explain=True)
        reasons = scored.reasons or []
        decision, p_good = scored.score.decision, scored.score.probability_good_credit
        title = f"{event}: model {model.version}"
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    console.print(f"decision [bold]{decision}[/bold]: P(good) {p_good:.3f}, threshold {model.threshold:.3f}")
    table = Table(title="principal reasons (features that lowered P(good), most first)")
    for column in ("#", "reason", "applicant's value", "meaning", "contribution"):
        table.add_column(column, justify="right" if column in ("#", "contribution") else "left")
    for i, r in enumerate(reasons, 1):
        table.add_row(str(i), r["label"], str(r["value"]), r["meaning"] or "", f"{r['contribution']:+.4f}")
    console.print(table)
    if counterfactual:
        found = search(model, row)
        console.print(f"what would change the decision: {found.message}")
        for c in found.changes:
            console.print(f"  {c.label}: {c.from_value} -> {c.to_value}" + (f" ({c.meaning})" if c.meaning else ""))
        if found.probability_good_credit is not None:
            console.print(f"  P(good) with the changes: {found.probability_good_credit:.3f}")


def _prediction_log() -> Any:
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.log import PredictionLog

    state = _local_state()
    template = Template(endpoint=state.endpoint)
    return PredictionLog(
        dynamodb=stack.boto_client("dynamodb", state.endpoint),
        table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        sqs=stack.boto_client("sqs", state.endpoint),
        spill_queue_url=template.ref("SpillQueue"),
    )


@log_app.command("get")
def log_get(
    record_id: Annotated[str, typer.Argument(help="A prediction id, or a request id (a batch's lists its items)")],
    last: Annotated[
        str | None,
        typer.Option(help="Search this far back for a request id that is not time-ordered (e.g. 1h, 30m, 2d)"),
    ] = None,
) -> None:
    """Print a record by prediction id (a JSON object), or every record of a request id (a JSON array)."""
    from creditwatch import lookups

    log = _prediction_log()
    try:
        found = lookups.find(log, record_id, lookups.parse_duration(last) if last else None)
    except lookups.LookupProblem as exc:
        _fail(str(exc), errors.USAGE)
    if found is None:
        _fail(f"no record with prediction id or request id {record_id} in the local stack's log", errors.FAILED)
    _print_json(found)


@log_app.command("erase")
def log_erase(
    prediction_id: Annotated[str, typer.Argument(help="The prediction id of the applicant's record")],
    table: Annotated[
        str | None, typer.Option(help="Deployed stack: the PredictionsTableName output (default: the local stack)")
    ] = None,
    shards: Annotated[int, typer.Option(help="Deployed stack: its LogShards parameter")] = 16,
    lake_bucket: Annotated[
        str | None,
        typer.Option(
            help="Deployed stack: the LakeBucketName output, whose objects holding the record are rewritten "
            "without it (default: the local stack's lake; with --table and no --lake-bucket the lake is not touched)"
        ),
    ] = None,
) -> None:
    """Delete one applicant's record from the log and the lake; print what was deleted and what else may hold it.

    The record's hour in the lake (and the hours of its outcome events) is rewritten even when the table
    no longer holds the record (after its TTL): its outcomes are then found by reading every object under
    outcomes/.
    """
    from creditwatch import lookups

    lake_s3: Any = None
    if table:
        import boto3

        from creditwatch_common.log import LogReader

        # Uses the caller's AWS credentials and region, like the AWS CLI.
        log = LogReader(dynamodb=boto3.client("dynamodb"), table=table, shards=shards)
        if lake_bucket:
            lake_s3 = boto3.client("s3")
    else:
        from creditwatch import lake

        log = _prediction_log()
        lake_s3, local_bucket = lake.bucket(_local_state().endpoint)
        lake_bucket = lake_bucket or local_bucket
    if lookups.millis_of(prediction_id) is None:
        _fail(f"{prediction_id} is not a prediction id (a UUIDv7)", errors.USAGE)
    erased = lookups.erase(log, prediction_id, lake_s3=lake_s3, lake_bucket=lake_bucket)
    _print_json(erased)
    in_lake = erased["lake"].get("rows_removed", 0)
    if "error" in erased["lake"]:
        _fail(f"the lake was not fully rewritten: {erased['lake']['error']}", errors.FAILED)
    if not erased["erased"] and not in_lake:
        where = f" nor in lake bucket {lake_bucket}" if lake_bucket else ""
        _fail(f"no record with prediction id {prediction_id} in table {log.table}{where}", errors.FAILED)
    if not erased["erased"]:
        typer.echo(
            f"table {log.table} no longer holds {prediction_id} (past its TTL?): erased {in_lake} row(s) from the "
            "lake, its outcomes found by scanning outcomes/",
            err=True,
        )


@log_app.command("tail")
def log_tail(
    minutes: Annotated[int, typer.Option(help="How far back")] = 15,
    limit: Annotated[int, typer.Option(help="Most records to print")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as a JSON array")] = False,
) -> None:
    """Print the latest records of the prediction log."""
    from datetime import UTC, datetime, timedelta

    from creditwatch_common.records import FullRow

    end = datetime.now(UTC) + timedelta(seconds=1)
    window = _prediction_log().query_window(end - timedelta(minutes=minutes), end, FullRow)
    rows = sorted(window, key=lambda r: r.sk)[-limit:] if limit > 0 else []
    if as_json:
        _print_json([r.model_dump(mode="json", exclude_none=True) for r in rows])
        return
    for row in rows:
        typer.echo(
            f"{row.ts}  {row.status}  {row.route:<15} {row.kind:<11} "
            f"{row.decision or row.error_class or '':<22} {row.prediction_id}"
        )
    typer.echo(f"{len(rows)} record(s) shown, from the last {minutes} min", err=True)


@app.command("replay-spill")
def replay_spill(
    max_messages: Annotated[int, typer.Option(help="Stop after this many")] = 10_000,
    table: Annotated[
        str | None, typer.Option(help="Deployed stack: the PredictionsTableName output (default: the local stack)")
    ] = None,
    queue_url: Annotated[str | None, typer.Option(help="Deployed stack: the SpillQueueUrl output")] = None,
) -> None:
    """Move prediction log records from the spill queue back into the table (local stack, or a deployed one)."""
    if (table is None) != (queue_url is None):
        _fail("give both --table and --queue-url (a deployed stack), or neither (the local stack)")
    if table and queue_url:
        import boto3

        from creditwatch_common.log import PredictionLog

        # Uses the caller's AWS credentials and region, like the AWS CLI.
        log = PredictionLog(
            dynamodb=boto3.client("dynamodb"), table=table, sqs=boto3.client("sqs"), spill_queue_url=queue_url
        )
    else:
        log = _prediction_log()
    result = log.replay_spilled(max_messages=max_messages)
    typer.echo(f"replayed {result['replayed']} record(s); {result['failed']} failed (left in the queue)")
    if result["failed"]:
        raise typer.Exit(1)


@app.command()
def report(
    bucket: Annotated[
        str | None, typer.Option(help="Deployed stack: the ReportsBucketName output (default: the local stack)")
    ] = None,
    summary_key: Annotated[
        str | None, typer.Option(help="A given report's summary.json key (default: the latest)")
    ] = None,
    expires: Annotated[int, typer.Option(min=60, max=604_800, help="Link lifetime in seconds")] = 3600,
    save: Annotated[Path | None, typer.Option(help="Also save the HTML and JSON summary in this folder")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary, with the new link, as JSON")] = False,
    list_runs: Annotated[
        bool, typer.Option("--list", help="List the latest runs instead, reruns of one window side by side")
    ] = False,
    limit: Annotated[int, typer.Option(help="With --list: how many runs")] = 20,
    revoke: Annotated[
        str | None, typer.Option(help="Revoke every token link to this report id (adds it to the deny-list)")
    ] = None,
    revoked_parameter: Annotated[
        str | None,
        typer.Option(help="With --revoke, deployed stack: the ReportLinksRevokedParameterName output"),
    ] = None,
    index: Annotated[
        bool,
        typer.Option(
            "--index",
            help="The report history instead: every report newest first with trend charts, opened in a browser "
            "(or written to --save PATH), the newest reports copied beside it",
        ),
    ] = False,
    copies: Annotated[
        int, typer.Option("--copies", min=0, help="With --index: how many of the newest reports to copy beside it")
    ] = 50,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="With --index: recreate the history from every summary in the bucket"),
    ] = False,
) -> None:
    """The latest drift report (or a given one): its verdict and a fresh link, signed with your credentials."""
    from creditwatch import reports

    if revoke:
        _revoke(revoke, revoked_parameter, as_json)
        return
    if rebuild and not index:
        _fail("--rebuild goes with --index", errors.USAGE)

    # SigV4: botocore still signs S3 links with SigV2 by default in us-east-1.
    deployed = bool(bucket)
    if bucket:
        import boto3
        from botocore.config import Config

        s3 = boto3.client("s3", config=Config(signature_version="s3v4"))  # the caller's credentials and region
    else:
        from creditwatch.local import stack
        from creditwatch.local.template import Template

        state = _local_state()
        s3 = stack.boto_client("s3", state.endpoint, signature_version="s3v4")
        bucket = Template(endpoint=state.endpoint).ref("ReportsBucket")
    if list_runs:
        _print_runs(reports.list_runs(s3, bucket, limit=limit), as_json)
        return
    if index:
        _index(s3, bucket, save, copies, rebuild=rebuild, local=not deployed, as_json=as_json)
        return
    try:
        summary = reports.summary_at(s3, bucket, summary_key) if summary_key else reports.latest(s3, bucket)
        if not summary.get("report_html_key"):
            _fail(f"this run wrote no report ({summary.get('status')}: {summary.get('message')})")
        link = reports.fresh_link(s3, bucket, summary["report_html_key"], expires)
        saved = reports.download(s3, bucket, summary, save) if save else None
    except reports.NoReport as exc:
        _fail(f"{exc}: run the drift job first (creditwatch drift --last 1h)")
    # Signed with the caller's credentials: a session's link lasts no longer than the session.
    summary.update({"report_url": link, "report_url_expires_in_s": expires, "saved_to": str(saved) if saved else None})
    if as_json:
        _print_json(summary)
        return
    typer.echo(f"{summary['window_start']} .. {summary['window_end']}: {summary['status']}: {summary['message']}")
    if summary.get("drifted_features"):
        typer.echo(f"drifted features: {', '.join(summary['drifted_features'])}")
    for line in _fairness_lines(summary.get("fairness")) + _stability_lines(summary.get("stability")):
        typer.echo(line)
    typer.echo(f"report (link valid {expires} s, at most as long as your credentials):\n{link}")
    if saved:
        typer.echo(f"saved: {saved}")


def _index(s3: Any, bucket: str, save: Path | None, copies: int, *, rebuild: bool, local: bool, as_json: bool) -> None:
    """Save the report history's page locally (and open it unless --save), after a rebuild if asked."""
    import webbrowser

    from creditwatch import reports

    rebuilt = None
    if rebuild:
        # Locally the bucket's page is rewritten too, with links through `creditwatch serve`; a deployed
        # stack's page is rewritten, with links through its API, by the next job run.
        rebuilt = reports.rebuild_history(s3, bucket, _local_publisher(s3, bucket) if local else None)
    path = save or ROOT / "reports" / "index.html"
    if path.suffix != ".html":
        path = path / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        saved = reports.save_index(s3, bucket, path, copies)
    except reports.NoReport as exc:
        _fail(str(exc))
    opened = False if save else webbrowser.open(saved.path.resolve().as_uri())
    if as_json:
        _print_json({**saved.__dict__, "path": str(saved.path), "opened": opened, "rebuild": rebuilt})
        return
    if rebuilt:
        typer.echo(
            f"rebuilt: {rebuilt['summaries']} summaries, {rebuilt['added']} new entries, "
            f"{rebuilt['entries']} in the history"
            + (
                "; the bucket's index rewritten"
                if rebuilt["index_rewritten"]
                else "; the next job run rewrites the bucket's index"
            )
        )
    typer.echo(
        f"report history: {saved.entries} report(s), the newest {saved.linked} linked to copies beside it "
        f"({saved.copied} fetched now)\n{saved.path}"
    )
    if not save and not opened:
        typer.echo(f"open it in a browser: {saved.path.resolve().as_uri()}")


def _local_publisher(s3: Any, bucket: str) -> Any:
    """Mints the local stack's token links (its generated key; links through `creditwatch serve`)."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.reports import Publisher, TokenKey, TokenLinks

    state = _local_state()
    sm = stack.boto_client("secretsmanager", state.endpoint)
    secret = Template(endpoint=state.endpoint).ref("ReportLinkTokenSecret")

    def key() -> TokenKey:
        return TokenKey.from_secret(json.loads(sm.get_secret_value(SecretId=secret)["SecretString"]))

    return Publisher(s3=s3, bucket=bucket, tokens=TokenLinks(key=key, base_url=stack.local_api_url()))


def _revoke(report_id: str, parameter: str | None, as_json: bool) -> None:
    """Add a report id to the deny-list parameter: its token links answer 403 within a minute."""
    from creditwatch import reports

    if parameter:
        import boto3

        ssm = boto3.client("ssm")  # the caller's credentials and region
    else:
        from creditwatch.local import stack
        from creditwatch.local.template import Template

        state = _local_state()
        ssm = stack.boto_client("ssm", state.endpoint)
        parameter = Template(endpoint=state.endpoint).ref("ReportLinksRevokedParameter")
    try:
        revoked = reports.revoke(ssm, parameter, report_id)
    except ValueError as exc:
        _fail(str(exc), errors.USAGE)
    if as_json:
        _print_json({"revoked": revoked, "parameter": parameter})
        return
    typer.echo(f"revoked {report_id}: its links answer 403 within a minute ({len(revoked)} report(s) revoked)")


def _print_runs(runs: list[dict[str, Any]], as_json: bool) -> None:
    keys = ("window_start", "window_end", "run_id", "generated_at", "status", "drift_share", "dataset_drift")
    if as_json:
        _print_json([{k: r.get(k) for k in (*keys, "summary_key", "report_html_key")} for r in runs])
        return
    if not runs:
        typer.echo("no drift report yet: run the drift job (creditwatch drift --last 1h)")
        return
    previous = None
    for r in runs:
        window = f"{r.get('window_start')} .. {r.get('window_end')}"
        share = r.get("drift_share")
        shown = "-" if share is None else f"{share:.2f}"
        # Reruns of one window follow each other; the window is written once for the group.
        label = window if window != previous else " " * len(window)
        typer.echo(f"{label}  {r.get('run_id') or '-':<32} {r.get('status'):<18} drift share {shown}")
        previous = window
    typer.echo(f"{len(runs)} run(s); open one with: creditwatch report --summary-key <key> (--json lists the keys)")


def main() -> None:
    """Console-script entry point: expected failures end as one `error:` line and their exit code."""
    try:
        app()
    except Exception as exc:
        if errors.debug_enabled():
            raise
        failure = errors.explain(exc)
        typer.echo(f"error: {failure.message}", err=True)
        sys.exit(failure.code)


@app.command()
def simulate(
    scenario: Annotated[
        str | None,
        typer.Option(
            help="stable, drift, bias, invalid, faults or day (counts below replace its own); "
            "with --history: stable, concept-drift or covariate-shift"
        ),
    ] = None,
    history: Annotated[
        int | None,
        typer.Option(
            help="Write DAYS whole UTC days of past, scored traffic (before today) to the local log and post "
            "their matured outcomes through POST /outcomes (needs --scenario stable|concept-drift|covariate-shift)"
        ),
    ] = None,
    per_day: Annotated[int | None, typer.Option(help="--history: applications per day [default: 200]")] = None,
    outcome_coverage: Annotated[
        float | None, typer.Option(help="--history: share of loans whose outcome is ever reported [default: 0.85]")
    ] = None,
    outcome_delay_days: Annotated[
        str | None,
        typer.Option(help="--history: days from decision to observed outcome, MIN..MAX, uniform [default: 30..60]"),
    ] = None,
    change_days_ago: Annotated[
        int | None,
        typer.Option(
            help="--history concept-drift or covariate-shift: the change starts this many days before today "
            "(default: two thirds of the way back)"
        ),
    ] = None,
    stable: Annotated[int | None, typer.Option(help="Applications drawn like the training data")] = None,
    drift: Annotated[int | None, typer.Option(help="Applications from a shifted population")] = None,
    bias: Annotated[
        int | None, typer.Option(help="Applications where female applicants ask for larger loans with worse accounts")
    ] = None,
    invalid: Annotated[int | None, typer.Option(help="Malformed or out-of-range requests")] = None,
    errors_: Annotated[
        int | None, typer.Option("--errors", help="Server errors recorded in the local log (fault scenario)")
    ] = None,
    slow: Annotated[int | None, typer.Option(help="Slow requests recorded in the local log (fault scenario)")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same traffic")] = 42,
    target: Annotated[str, typer.Option(help="handler (in-process Lambda handler) or http")] = "handler",
    url: Annotated[str, typer.Option(help="API base URL for --target http")] = "http://127.0.0.1:8000",
    amount_factor: Annotated[float, typer.Option(help="drift: credit_amount multiplier")] = 2.5,
    duration_add: Annotated[int, typer.Option(help="drift: months added to duration")] = 18,
    age_add: Annotated[int, typer.Option(help="drift: years added to age")] = -8,
    recode_share: Annotated[float, typer.Option(help="drift: share of applicants moved to the shifted codes")] = 0.6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Send traffic through the predict function of the local stack; prints the window it covered.

    Only what you ask for is sent: a --scenario, explicit counts, or both (counts replace the scenario's).
    With --history DAYS it writes a labelled past instead (marked simulated by the request id prefix
    `simulated-history-`): e.g. --history 90 --scenario concept-drift --per-day 200.
    """
    from rich.console import Console
    from rich.progress import Progress

    from creditwatch.simulate import BiasShift, DriftShift, plan_counts, run_simulation

    if target not in ("handler", "http"):
        _fail("--target is handler or http", errors.USAGE)
    explicit = {"stable": stable, "drift": drift, "bias": bias, "invalid": invalid, "errors": errors_, "slow": slow}
    history_options = {
        "--per-day": per_day is not None,
        "--outcome-coverage": outcome_coverage is not None,
        "--outcome-delay-days": outcome_delay_days is not None,
        "--change-days-ago": change_days_ago is not None,
    }
    if history is not None:
        counts_given = [f"--{k}" for k, v in explicit.items() if v is not None]
        if counts_given:
            _fail(f"--history writes its own traffic: drop {', '.join(counts_given)}", errors.USAGE)
        _simulate_history(
            history,
            scenario,
            200 if per_day is None else per_day,
            0.85 if outcome_coverage is None else outcome_coverage,
            outcome_delay_days or "30..60",
            change_days_ago,
            seed,
            target,
            url,
            as_json,
        )
        return
    if any(history_options.values()):
        given = ", ".join(k for k, v in history_options.items() if v)
        _fail(f"{given} only apply with --history DAYS", errors.USAGE)
    if scenario in ("concept-drift", "covariate-shift"):
        _fail(f"{scenario} is a history scenario: add --history DAYS (e.g. --history 90)", errors.USAGE)
    try:
        counts = plan_counts(scenario, explicit)
    except ValueError as exc:
        _fail(str(exc), errors.USAGE)
    state = _local_state()
    shift = DriftShift(
        amount_factor=amount_factor, duration_add=duration_add, age_add=age_add, recode_share=recode_share
    )
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=sum(counts.values()))
        tally = run_simulation(counts, seed, state.endpoint, target, url, shift, lambda n: bar.advance(task, n))
    summary = tally.as_dict()
    if counts.get("drift"):
        summary["drift_shift"] = shift.describe()
    if counts.get("bias"):
        summary["bias_shift"] = BiasShift().describe()
    if as_json:
        _print_json(summary)
        return
    _render_tally(summary)
    window = summary["window"]
    typer.echo(f"window {window['start']} .. {window['end']}")
    typer.echo(f"drift over it: creditwatch drift --start {window['start']} --end {window['end']}")


def _simulate_history(
    days: int,
    scenario: str | None,
    per_day: int,
    coverage: float,
    delay: str,
    change_days_ago: int | None,
    seed: int,
    target: str,
    url: str,
    as_json: bool,
) -> None:
    """`simulate --history`: a labelled past on the local stack (creditwatch/labelled_history.py)."""
    from rich.console import Console
    from rich.progress import Progress

    from creditwatch.labelled_history import HISTORY_SCENARIOS, HistoryError, HistoryPlan, parse_delay, run_history
    from creditwatch.simulate import outcome_poster

    if scenario is None:
        _fail(f"--history needs --scenario {'|'.join(HISTORY_SCENARIOS)}", errors.USAGE)
    if scenario not in HISTORY_SCENARIOS:
        _fail(
            f"{scenario} is not a history scenario: with --history choose {', '.join(HISTORY_SCENARIOS)}", errors.USAGE
        )
    try:
        plan = HistoryPlan(
            scenario=scenario,
            days=days,
            per_day=per_day,
            change_days_ago=change_days_ago,
            coverage=coverage,
            delay_days=parse_delay(delay),
            seed=seed,
        )
    except ValueError as exc:
        _fail(str(exc), errors.USAGE)
    state = _local_state()
    poster = outcome_poster(state.endpoint, target, url)
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        tasks = {
            "records": bar.add_task("records", total=plan.total),
            "outcomes": bar.add_task("outcomes", total=None),
        }
        try:
            result = run_history(plan, state.endpoint, poster, progress=lambda kind, n: bar.advance(tasks[kind], n))
        except HistoryError as exc:
            _fail(str(exc), errors.FAILED)
        except ValueError as exc:  # an endpoint not on this machine
            _fail(str(exc), errors.USAGE)
    summary = result.as_dict()
    if as_json:
        _print_json(summary)
        return
    _render_history(summary)


def _render_history(summary: dict[str, Any]) -> None:
    from datetime import datetime, timedelta

    from rich.console import Console
    from rich.table import Table

    from creditwatch_common.ids import iso_utc

    table = Table(title=f"simulated history: {summary['scenario']}", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    window = summary["window"]
    table.add_row("days", f"{summary['days']} ({window['start']} .. {window['end']})")
    table.add_row("records", f"{summary['records']} ({summary['per_day']} a day)")
    table.add_row("  written now", str(summary["records_written"]))
    table.add_row("  already in the log", str(summary["records_existing"]))
    for k, v in summary["decisions"].items():
        table.add_row(f"  {k}", str(v))
    if summary["change_at"]:
        table.add_row("change from", summary["change_at"])
    out = summary["outcomes"]
    table.add_row("outcomes posted", str(out["posted"]))
    for k, v in out["by_status"].items():
        table.add_row(f"  {k}", str(v))
    table.add_row("outcomes not yet observed", str(out["not_yet_observed"]))
    table.add_row("outcomes never reported", str(out["never_reported"]))
    for name, period in summary["periods"].items():
        auc = period["realized_auc"]
        table.add_row(
            f"{name.replace('_', ' ')}",
            f"{period['labelled']} labelled of {period['records']}, realized AUC "
            + (f"{auc:.3f}" if auc is not None else "-"),
        )
    table.add_row(
        "truth", f"temperature {summary['truth']['temperature']}, validation AUC {summary['truth']['target_auc']}"
    )
    if summary["truth"]["change"]:
        table.add_row("change", summary["truth"]["change"])
    Console().print(table)
    typer.echo(f"records are marked by their request id: {summary['request_id_prefix']}<prediction id>")
    for name, period in summary["periods"].items():
        cohort = json.dumps({k: period[k] for k in ("days_ago_from", "days_ago_to")})
        typer.echo(f"quality {name.replace('_', ' ')}: echo '{cohort}' | creditwatch invoke QualityFunction -e -")
    end = datetime.fromisoformat(window["end"].replace("Z", "+00:00"))
    typer.echo(
        f"input drift of the last week: creditwatch drift --start {iso_utc(end - timedelta(days=7))} "
        f"--end {window['end']}"
    )


def _render_tally(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="simulated traffic", show_header=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("requests", str(summary["requests"]))
    for k, v in summary["by_scenario"].items():
        table.add_row(f"  {k}", str(v))
    for k, v in summary["by_status"].items():
        table.add_row(f"  HTTP {k}", str(v))
    rate = summary["approval_rate"]
    table.add_row("approval rate", f"{rate:.1%}" if rate is not None else "-")
    lat = summary["latency_ms"]
    table.add_row("latency p50 / p95 / p99 (ms)", f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f}")
    if "drift_shift" in summary:
        table.add_row("drift shift", summary["drift_shift"])
    if "bias_shift" in summary:
        table.add_row("bias shift", summary["bias_shift"])
    Console().print(table)


def _run_job(logical_id: str, event: dict[str, Any]) -> Any:
    """Invoke a job of the local stack as `creditwatch invoke` does; its result, or a one-line error."""
    from creditwatch.local.invoke import invoke as run
    from creditwatch.local.template import Template

    state = _local_state()
    outcome = run(Template(endpoint=state.endpoint), logical_id, event, state.endpoint)
    if errors.debug_enabled():
        sys.stderr.write(outcome.stderr)
    if outcome.function_error:
        result = outcome.result if isinstance(outcome.result, dict) else {}
        _fail(
            f"{logical_id} failed: {result.get('errorType', '?')}: {result.get('errorMessage', outcome.stderr[-300:])} "
            f"(creditwatch --debug {logical_id.removesuffix('Function').lower()} shows its log)",
            errors.FUNCTION_ERROR,
        )
    return outcome.result


@app.command("drift")
def drift_job(
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 (with --end)")] = None,
    end: Annotated[str | None, typer.Option(help="Window end, ISO 8601, exclusive (with --start)")] = None,
    last: Annotated[str | None, typer.Option(help="The window ending now: 90s, 30m, 1h, 2d")] = None,
    threshold: Annotated[float | None, typer.Option(help="Dataset drift threshold (default: the template's)")] = None,
    notify: Annotated[
        bool, typer.Option("--notify/--no-notify", help="Queue a Slack note for the alerts job when drifted")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job's summary as JSON")] = False,
) -> None:
    """Run the drift job on the local stack over a window and print its verdict (default: the job's own window)."""
    from datetime import UTC, datetime, timedelta

    from creditwatch.lookups import LookupProblem, parse_duration
    from creditwatch_common.ids import iso_utc

    event: dict[str, Any] = {"source": "creditwatch.cli", "notify": notify}
    if last is not None:
        if start or end:
            _fail("give either --last or --start and --end, not both", errors.USAGE)
        try:
            span = parse_duration(last)
        except LookupProblem as exc:
            _fail(str(exc), errors.USAGE)
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        event.update(start=iso_utc(now - span), end=iso_utc(now))
    elif start or end:
        if not (start and end):
            _fail("give both --start and --end (or --last 1h)", errors.USAGE)
        event.update(start=start, end=end)
    if threshold is not None:
        event["threshold"] = threshold
    summary = _run_job("DriftFunction", event)
    if as_json:
        _print_json(summary)
    else:
        _render_drift_summary(summary)
    status = summary.get("status")
    if status == "invalid_event":
        raise typer.Exit(errors.USAGE)
    if status == "error":
        raise typer.Exit(errors.FAILED)


def _render_drift_summary(summary: dict[str, Any]) -> None:
    status = summary.get("status")
    if status == "invalid_event":
        typer.echo(f"the drift job refused the window: {summary.get('message')} {summary.get('errors') or ''}")
        return
    typer.echo(f"{summary.get('window_start')} .. {summary.get('window_end')}: {status}: {summary.get('message')}")
    if summary.get("drifted_features"):
        typer.echo(f"drifted features: {', '.join(summary['drifted_features'])}")
    for line in _fairness_lines(summary.get("fairness")) + _stability_lines(summary.get("stability")):
        typer.echo(line)
    if summary.get("summary_key"):
        run = summary["summary_key"].rsplit("/", 2)[-2]
        typer.echo(f"report ({run}): {summary['report_html_key']}")
        typer.echo(summary.get("report_url") or "")
        typer.echo("reruns of a window keep their own report: creditwatch report --list")
    if summary.get("notified"):
        typer.echo(
            "Slack: the drift or fairness note is queued in the notifications queue; "
            "the alerts job posts it (run `creditwatch alerts`, then `creditwatch slack`)"
        )
    elif summary.get("dataset_drift"):
        typer.echo("Slack: no note queued (--no-notify)")
    for warning in summary.get("warnings") or []:
        typer.echo(f"warning: {warning}")


def _fairness_lines(fairness: dict[str, Any] | None) -> list[str]:
    """One line per protected attribute: the window's disparate impact ratio, its interval, its verdict."""
    if not fairness:
        return []
    lines = []
    for a in fairness["attributes"]:
        cur, ref = a["current"], a["reference"]
        if cur["disparate_impact_ratio"] is None:
            figure = cur.get("note") or "not judged"
        else:
            low, high = cur["ratio_interval"]
            figure = f"disparate impact ratio {cur['disparate_impact_ratio']:.2f} (95% {low:.2f}-{high:.2f})"
        verdict = "ALERT" if a["alert"] else "adverse impact, as in the reference" if a["below_threshold"] else "ok"
        if a.get("change_interval"):
            low, high = a["change_interval"]
            verdict += f" (window/reference {low:.2f}-{high:.2f})"
        reference = ref["disparate_impact_ratio"]
        ref_text = f"{reference:.2f}" if reference is not None else "not judged"
        lines.append(f"fairness {a['attribute']}: {figure}; reference {ref_text}: {verdict}")
    return lines


def _stability_lines(stability: dict[str, Any] | None) -> list[str]:
    """The score's PSI and band, the approval rates, and the feature that moved most."""
    if not stability:
        return []
    score = stability["score"]
    line = f"stability: P(good) PSI {score['psi']} ({score['band']})"
    rate = stability.get("approval_rate_current")
    line += f"; approval rate {rate:.1%} vs {stability['approval_rate_reference']:.1%} in the reference" if rate else ""
    features = [f for f in stability["features"] if f["psi"] is not None]
    if features:
        worst = max(features, key=lambda f: f["psi"])
        line += f"; most moved {worst['name']} PSI {worst['psi']} ({worst['band']})"
    return [line]


@app.command("alerts")
def alerts_job(as_json: Annotated[bool, typer.Option("--json", help="Print the job's result as JSON")] = False) -> None:
    """Run the alerts job on the local stack: error rate, latency, queued drift notes; prints what it posted."""
    result = _run_job("AlertsFunction", {"source": "creditwatch.cli"})
    if as_json:
        _print_json(result)
        return
    stats = result.get("stats", {})
    typer.echo(f"window {stats.get('window_start')} .. {stats.get('window_end')}")
    for c in result.get("conditions", []):
        state = "FIRING" if c.get("firing") else "ok"
        typer.echo(f"  {state:<7} {c.get('title')}: {c.get('detail') or ''}")
    posted = result.get("posted", [])
    for p in posted:
        typer.echo(f"posted {p.get('kind')}: {p.get('text')}")
    typer.echo(
        f"{len(posted)} Slack message(s) posted" + (" (creditwatch slack shows the sink's)" if posted else "")
        if posted
        else "nothing posted (no new transition, no queued note)"
    )


@app.command()
def demo(
    stable: Annotated[int, typer.Option(help="Applications drawn like the training data")] = 400,
    drift: Annotated[int, typer.Option(help="Applications from the shifted population")] = 400,
    invalid: Annotated[int, typer.Option(help="Malformed or out-of-range requests")] = 20,
    errors_: Annotated[int, typer.Option("--errors", help="Server errors recorded in the local log")] = 60,
    slow: Annotated[int, typer.Option(help="Slow requests recorded in the local log")] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same traffic")] = 42,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the demo's stack running afterwards")] = False,
    port: Annotated[
        int | None, typer.Option(help="moto server port of the demo's own stack (default: a free one)")
    ] = None,
    reports_dir: Annotated[Path, typer.Option(help="Where to copy the HTML report")] = ROOT / "reports",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """The main job on a local stack of its own: stable then shifted traffic with failures, drift and alerts jobs.

    Your own local stack, if one runs, is left alone; the demo's is stopped at the end unless --keep.
    """
    from rich.console import Console

    from creditwatch.demo import DemoOptions, run_demo, summary_json
    from creditwatch.local.stack import PortTaken

    console = Console(stderr=True)
    options = DemoOptions(
        stable=stable, drift=drift, invalid=invalid, errors=errors_, slow=slow, seed=seed, reports_dir=reports_dir
    )
    try:
        with console.status("creditwatch demo") as status:
            run = run_demo(options, keep, lambda msg: status.update(f"[bold]{msg}"), port=port)
    except PortTaken as exc:
        _fail(
            f"the demo cannot start its own stack: {exc} (or leave --port out: the demo picks a free one)",
            errors.UNREACHABLE,
        )
    if as_json:
        sys.stdout.write(summary_json(run) + "\n")
    else:
        from creditwatch.render import render_demo

        render_demo(run)
    if not run.result.ok:
        raise typer.Exit(errors.FAILED)


@app.command()
def slack(as_json: Annotated[bool, typer.Option("--json", help="Print raw payloads")] = False) -> None:
    """Show the messages the local Slack webhook sink received."""
    from creditwatch.local import stack
    from creditwatch.local.slack_sink import read_messages

    state = _local_state()
    if not state.sink_url:
        _fail("the local stack runs without the Slack sink (started with --sink-port 0)", errors.USAGE)
    messages = read_messages(stack.state_dir() / "slack-messages.jsonl")
    if as_json:
        _print_json(messages)
        return
    if not messages:
        typer.echo("the Slack sink has received no message")
    for m in messages:
        typer.echo(f"{m['received_at']}  {m['payload'].get('text', '')}")


# ---- the lake: the prediction log as Parquet in the local stack's LakeBucket ----------------------

lake_app = typer.Typer(
    help="The lake of the local stack: export recent hours, query them with SQL.", no_args_is_help=True
)
app.add_typer(lake_app, name="lake")


@lake_app.command("export")
def lake_export(
    hours: Annotated[
        int | None, typer.Option(help="Hours to export, the current one included (default: LakeExportHours)")
    ] = None,
) -> None:
    """Rewrite the recent hours of the prediction log as Parquet, as the hourly LakeExportFunction does."""
    from creditwatch import lake
    from creditwatch.local.template import Template

    state = _local_state()
    template = Template(endpoint=state.endpoint)
    n = hours if hours is not None else int(template.parameters["LakeExportHours"])
    if n < 1:
        _fail("--hours must be at least 1")
    from creditwatch_analytics.lake.export import RewriteRefused

    exporter = lake.exporter(state.endpoint)
    try:
        result = exporter.export(n)
    except RewriteRefused as exc:
        _fail(f"--hours {n}: {exc}")
    for h in result.hours:
        typer.echo(f"  {h.hour}  {h.rows:>8} rows  {h.bytes:>10} bytes  s3://{result.bucket}/{h.key}")
        if h.outcome_key:
            typer.echo(f"  {h.hour}  {h.outcome_rows:>8} outcomes  s3://{result.bucket}/{h.outcome_key}")
    for h in result.late_hours:
        how = "merged into the lake's object (past the table's TTL)" if h.merged else "marked by a spill replay"
        typer.echo(f"  {h.hour}  {h.rows:>8} rows  {h.bytes:>10} bytes  s3://{result.bucket}/{h.key}  {how}")
    mark = result.watermark
    typer.echo(
        f"exported {result.rows} record(s) and {result.outcome_rows} outcome(s); "
        f"the lake holds every hour from {mark.first_hour:%Y-%m-%dT%H:%MZ} "
        f"to {mark.complete_through:%Y-%m-%dT%H:%MZ} completely"
    )


@lake_app.command("query")
def lake_query(
    sql: Annotated[
        str,
        typer.Argument(
            help="SQL. Locally (DuckDB): the views `predictions`, `outcomes` (latest per prediction_id) and "
            "`outcome_events`. With --workgroup (Athena): the Glue tables `predictions` and `outcome_events` "
            "only (no `outcomes`: take the latest recorded_at per prediction_id), partitioned by `dt`: filter "
            'on it. E.g. "SELECT decision, count(*) FROM predictions GROUP BY 1"'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects")] = False,
    workgroup: Annotated[
        str | None, typer.Option(help="Deployed stack, through Athena: the LakeWorkGroupName output")
    ] = None,
    database: Annotated[str | None, typer.Option(help="Deployed stack: the LakeDatabaseName output")] = None,
    timeout: Annotated[int, typer.Option(min=10, help="Deployed stack: stop the query after this many seconds")] = 300,
) -> None:
    """SQL over the lake: DuckDB on the local stack, Athena on a deployed one (--workgroup, --database).

    Locally the views are `predictions`, `outcomes` (latest per prediction_id) and `outcome_events`;
    with no local stack running, the lake the demo left behind (copied when its stack stopped) answers.
    In Athena the Glue tables are `predictions` and `outcome_events` (no `outcomes` view), partitioned
    by `dt` and `hour`.
    """
    import duckdb

    from creditwatch import lake as local_lake
    from creditwatch.demo import demo_state_dir
    from creditwatch.local import stack
    from creditwatch_analytics.lake.schema import LakeError

    if (workgroup is None) != (database is None):
        _fail("give both --workgroup and --database (a deployed stack), or neither (the local stack)")
    if workgroup and database:
        names, rows = _athena_query(sql, workgroup, database, timeout)
        _print_rows(names, rows, as_json)
        return
    state = stack.load_state()
    if state is not None:
        lake = local_lake.window(state.endpoint)
    else:
        lake = local_lake.saved_window(stack.state_dir()) or local_lake.saved_window(demo_state_dir())
        if lake is None:
            _fail("the local stack is not running: start it with `creditwatch local up`", errors.STACK_DOWN)
        typer.echo(f"no local stack runs: querying the lake the demo left in {lake.bucket}", err=True)
    try:
        names, rows = lake.query(sql)
    except LakeError as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"the query failed: {exc}")
    _print_rows(names, rows, as_json)


def _athena_query(sql: str, workgroup: str, database: str, timeout: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """One query through the deployed lake's Athena workgroup, with the caller's credentials and region."""
    import time

    import boto3

    from creditwatch_analytics.lake.athena import AthenaClient, AthenaError

    end = time.monotonic() + timeout
    client = AthenaClient(
        boto3.client("athena"), workgroup, database, remaining=lambda: end - time.monotonic(), margin=0
    )
    try:
        result = client.run(sql)
    except AthenaError as exc:
        _fail(str(exc))
    if result.bytes_scanned is not None:
        typer.echo(f"athena query {result.query_id}: {result.bytes_scanned:,} bytes scanned", err=True)
    return result.columns, result.rows


def _print_rows(names: list[str], rows: list[tuple[Any, ...]], as_json: bool) -> None:
    """Query rows as a table (or JSON objects), the row count on stderr."""
    if as_json:
        _print_json([dict(zip(names, row, strict=True)) for row in rows])
        return
    cells = [names, *([("NULL" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(names))]
    for r in cells:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)
