"""The `creditwatch` command: train the model, run the stack locally, invoke functions, simulate traffic."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from creditwatch.paths import ROOT

if TYPE_CHECKING:
    from creditwatch.local.stack import StackState

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
local_app = typer.Typer(help="The local stack: a moto server with the template's resources.", no_args_is_help=True)
log_app = typer.Typer(help="Read the prediction log of the local stack.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(log_app, name="log")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _local_state() -> StackState:
    """The running local stack's state, or a one-line error when it is not up."""
    from creditwatch.local import stack

    try:
        return stack.require_state()
    except stack.StackError as exc:
        _fail(str(exc))


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
    port: Annotated[int, typer.Option(help="moto server port")] = 4566,
    sink_port: Annotated[int, typer.Option(help="local Slack webhook sink port (0: none)")] = 4567,
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 lets Docker containers reach it)")] = "127.0.0.1",
    webhook_url: Annotated[str | None, typer.Option(help="A real Slack webhook URL instead of the sink")] = None,
) -> None:
    """Start the moto server and create the resources template.yaml declares."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template

    try:
        state = stack.up(host=host, port=port, sink_port=sink_port or None, webhook_url=webhook_url)
    except stack.StackError as exc:
        _fail(str(exc))
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
        _fail("the local stack is not running", code=3)
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
    event: Annotated[str, typer.Option("--event", "-e", help="Event file, or - for stdin")] = "-",
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
    rebuild: Annotated[bool, typer.Option(help="With --build: run `sam build` even if a build exists")] = False,
) -> None:
    """Invoke a function as `sam local invoke` does: JSON result on stdout, logs on stderr."""
    from creditwatch.local.template import Template, TemplateError

    state = _local_state()
    raw = sys.stdin.read() if event == "-" else Path(event).read_text()
    try:
        payload = json.loads(raw or "{}")
    except ValueError as exc:
        _fail(f"the event is not JSON: {exc}")
    template = Template(endpoint=state.endpoint)
    try:
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
    except TemplateError as exc:
        _fail(str(exc))
    sys.stderr.write(outcome.stderr)
    _print_json(outcome.result)
    if outcome.function_error:
        raise typer.Exit(2)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the API")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
) -> None:
    """Serve the predict API on http://127.0.0.1:8000 (Swagger UI at /docs) against the local stack."""
    import os

    import uvicorn

    from creditwatch.local.invoke import function_environment
    from creditwatch.local.template import Template
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    state = _local_state()
    spec = Template(endpoint=state.endpoint).function("PredictFunction")
    env = function_environment(spec, state.endpoint, {"FLUSH_METRICS_PER_REQUEST": "true"})
    # Powertools and boto3 read these from the process environment (credentials, region, endpoint).
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AWS_", "POWERTOOLS_"))})
    os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    service = build(PredictSettings.model_validate(env), AwsClients())
    typer.echo(f"predict API on http://{host}:{port} (Swagger UI: http://{host}:{port}/docs)", err=True)
    uvicorn.run(service.app, host=host, port=port, log_level="info")


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
def log_get(prediction_id: str) -> None:
    """Print one record of the prediction log by its id."""
    record = _prediction_log().get(prediction_id)
    if record is None:
        _fail(f"no record {prediction_id}")
    _print_json(record.model_dump(mode="json", exclude_none=True))


@log_app.command("tail")
def log_tail(
    minutes: Annotated[int, typer.Option(help="How far back")] = 15,
    limit: Annotated[int, typer.Option(help="Most records to print")] = 20,
) -> None:
    """Print the latest records of the prediction log."""
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC) + timedelta(seconds=1)
    from creditwatch_common.records import FullRow

    window = _prediction_log().query_window(end - timedelta(minutes=minutes), end, FullRow)
    rows = sorted(window, key=lambda r: r.sk)
    for row in rows[-limit:]:
        typer.echo(
            f"{row.ts}  {row.status}  {row.route:<15} {row.kind:<11} "
            f"{row.decision or row.error_class or '':<22} {row.prediction_id}"
        )
    typer.echo(f"{len(rows)} record(s) in the last {minutes} min", err=True)


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
) -> None:
    """The latest drift report (or a given one): its verdict and a fresh link, signed with your credentials."""
    from creditwatch import reports

    # SigV4: botocore still signs S3 links with SigV2 by default in us-east-1.
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
    try:
        summary = reports.summary_at(s3, bucket, summary_key) if summary_key else reports.latest(s3, bucket)
        if not summary.get("report_html_key"):
            _fail(f"this run wrote no report ({summary.get('status')}: {summary.get('message')})")
        link = reports.fresh_link(s3, bucket, summary["report_html_key"], expires)
        saved = reports.download(s3, bucket, summary, save) if save else None
    except reports.NoReport as exc:
        _fail(str(exc))
    # Signed with the caller's credentials: a session's link lasts no longer than the session.
    summary.update({"report_url": link, "report_url_expires_in_s": expires, "saved_to": str(saved) if saved else None})
    if as_json:
        _print_json(summary)
        return
    typer.echo(f"{summary['window_start']} .. {summary['window_end']}: {summary['status']}: {summary['message']}")
    if summary.get("drifted_features"):
        typer.echo(f"drifted features: {', '.join(summary['drifted_features'])}")
    typer.echo(f"report (link valid {expires} s, at most as long as your credentials):\n{link}")
    if saved:
        typer.echo(f"saved: {saved}")


def main() -> None:
    """Console-script entry point."""
    app()


@app.command()
def simulate(
    stable: Annotated[int, typer.Option(help="Applications drawn like the training data")] = 200,
    drift: Annotated[int, typer.Option(help="Applications from a shifted population")] = 0,
    invalid: Annotated[int, typer.Option(help="Malformed or out-of-range requests")] = 0,
    errors: Annotated[int, typer.Option(help="Server errors recorded in the local log (fault scenario)")] = 0,
    slow: Annotated[int, typer.Option(help="Slow requests recorded in the local log (fault scenario)")] = 0,
    seed: Annotated[int, typer.Option(help="Same seed, same traffic")] = 42,
    target: Annotated[str, typer.Option(help="handler (in-process Lambda handler) or http")] = "handler",
    url: Annotated[str, typer.Option(help="API base URL for --target http")] = "http://127.0.0.1:8000",
    amount_factor: Annotated[float, typer.Option(help="drift: credit_amount multiplier")] = 2.5,
    duration_add: Annotated[int, typer.Option(help="drift: months added to duration")] = 18,
    age_add: Annotated[int, typer.Option(help="drift: years added to age")] = -8,
    recode_share: Annotated[float, typer.Option(help="drift: share of applicants moved to the shifted codes")] = 0.6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """Send realistic traffic through the predict function of the local stack."""
    from rich.console import Console
    from rich.progress import Progress

    from creditwatch.simulate import DriftShift, run_simulation

    if target not in ("handler", "http"):
        _fail("--target is handler or http")
    state = _local_state()
    counts = {"stable": stable, "drift": drift, "invalid": invalid, "errors": errors, "slow": slow}
    shift = DriftShift(
        amount_factor=amount_factor, duration_add=duration_add, age_add=age_add, recode_share=recode_share
    )
    console = Console(stderr=True)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=sum(counts.values()))
        tally = run_simulation(counts, seed, state.endpoint, target, url, shift, lambda n: bar.advance(task, n))
    summary = tally.as_dict()
    if drift:
        summary["drift_shift"] = shift.describe()
    if as_json:
        _print_json(summary)
        return
    _render_tally(summary)


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
    Console().print(table)


@app.command()
def demo(
    stable: Annotated[int, typer.Option(help="Applications drawn like the training data")] = 400,
    drift: Annotated[int, typer.Option(help="Applications from the shifted population")] = 400,
    invalid: Annotated[int, typer.Option(help="Malformed or out-of-range requests")] = 20,
    errors: Annotated[int, typer.Option(help="Server errors recorded in the local log")] = 60,
    slow: Annotated[int, typer.Option(help="Slow requests recorded in the local log")] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same traffic")] = 42,
    keep: Annotated[bool, typer.Option(help="Leave the local stack running afterwards")] = False,
    port: Annotated[int | None, typer.Option(help="moto server port (default 4566, or a free one)")] = None,
    reports_dir: Annotated[Path, typer.Option(help="Where to copy the HTML report")] = ROOT / "reports",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
) -> None:
    """The main job on the local stack: stable then shifted traffic with failures, drift and alerts jobs, summary."""
    from rich.console import Console

    from creditwatch.demo import DemoOptions, run_demo, summary_json

    console = Console(stderr=True)
    options = DemoOptions(
        stable=stable, drift=drift, invalid=invalid, errors=errors, slow=slow, seed=seed, reports_dir=reports_dir
    )
    with console.status("creditwatch demo") as status:
        result, endpoint = run_demo(options, keep, lambda msg: status.update(f"[bold]{msg}"), port=port)
    if as_json:
        sys.stdout.write(summary_json(result) + "\n")
    else:
        from creditwatch.render import render_demo

        render_demo(result, endpoint, keep)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def slack(as_json: Annotated[bool, typer.Option("--json", help="Print raw payloads")] = False) -> None:
    """Show the messages the local Slack webhook sink received."""
    from creditwatch.local.slack_sink import read_messages
    from creditwatch.paths import STATE_DIR

    messages = read_messages(STATE_DIR / "slack-messages.jsonl")
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
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.lake.export import LakeExporter
    from creditwatch_common.lake.schema import LakeSchema
    from creditwatch_drift.lake_export.app import feature_schema

    state = _local_state()
    template = Template(endpoint=state.endpoint)
    n = hours if hours is not None else int(template.parameters["LakeExportHours"])
    if n < 1:
        _fail("--hours must be at least 1")
    exporter = LakeExporter(
        reader=_prediction_log(),
        s3=stack.boto_client("s3", state.endpoint),
        bucket=template.ref("LakeBucket"),
        schema=LakeSchema.of(feature_schema().features),
    )
    result = exporter.export(n)
    for h in result.hours:
        typer.echo(f"  {h.hour}  {h.rows:>8} rows  {h.bytes:>10} bytes  s3://{result.bucket}/{h.key}")
    mark = result.watermark
    typer.echo(
        f"exported {result.rows} record(s); the lake holds every hour from {mark.first_hour:%Y-%m-%dT%H:%MZ} "
        f"to {mark.complete_through:%Y-%m-%dT%H:%MZ} completely"
    )


@lake_app.command("query")
def lake_query(
    sql: Annotated[str, typer.Argument(help='SQL over the view `predictions`, e.g. "SELECT decision, count(*) ..."')],
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects")] = False,
) -> None:
    """Run SQL (DuckDB, in process) over every hour of the local stack's lake: the view is `predictions`."""
    import boto3
    import duckdb

    from creditwatch.local import stack
    from creditwatch.local.template import LOCAL_REGION, Template
    from creditwatch_common.lake.schema import LakeError
    from creditwatch_common.lake.window import LakeWindow, s3_filesystem
    from creditwatch_drift.lake_export.app import feature_schema

    state = _local_state()
    template = Template(endpoint=state.endpoint)
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
    )
    lake = LakeWindow(
        filesystem=lambda: s3_filesystem(session, state.endpoint),
        s3=stack.boto_client("s3", state.endpoint),
        bucket=template.ref("LakeBucket"),
        feature_names=feature_schema().names,
    )
    try:
        names, rows = lake.query(sql)
    except LakeError as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(f"the query failed: {exc}")
    if as_json:
        _print_json([dict(zip(names, row, strict=True)) for row in rows])
        return
    cells = [names, *([("NULL" if v is None else str(v)) for v in row] for row in rows)]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(names))]
    for r in cells:
        typer.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)
