"""Drift reports: `report show|list|index|revoke`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render
from creditwatch.paths import ROOT

report_app = common.sub_app("Drift reports: the latest (or a given) one, the runs, the history, revoking links.")

Bucket = Annotated[
    str | None, typer.Option(help="Deployed stack: the ReportsBucketName output (default: the local stack)")
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON")]


def _bucket(bucket: str | None) -> tuple[Any, str, bool]:
    """The S3 client (SigV4), the reports bucket, and whether it is a deployed stack's."""
    if bucket:
        import boto3
        from botocore.config import Config

        # SigV4: botocore still signs S3 links with SigV2 by default in us-east-1.
        return boto3.client("s3", config=Config(signature_version="s3v4")), bucket, True  # the caller's credentials
    from creditwatch.local import stack
    from creditwatch.local.template import Template

    state = common.local_state()
    s3 = stack.boto_client("s3", state.endpoint, signature_version="s3v4")
    return s3, Template(endpoint=state.endpoint).ref("ReportsBucket"), False


@report_app.command("show")
def report_show(
    bucket: Bucket = None,
    summary_key: Annotated[
        str | None, typer.Option(help="A given report's summary.json key (default: the latest)")
    ] = None,
    expires: Annotated[int, typer.Option(min=60, max=604_800, help="Link lifetime in seconds")] = 3600,
    save: Annotated[Path | None, typer.Option(help="Also save the HTML and JSON summary in this folder")] = None,
    as_json: Json = False,
) -> None:
    """The latest drift report (or a given one): its verdict and a fresh link, signed with your credentials."""
    from creditwatch import reports

    s3, bucket, _ = _bucket(bucket)
    try:
        summary = reports.summary_at(s3, bucket, summary_key) if summary_key else reports.latest(s3, bucket)
        if not summary.get("report_html_key"):
            common.fail(f"this run wrote no report ({summary.get('status')}: {summary.get('message')})")
        link = reports.fresh_link(s3, bucket, summary["report_html_key"], expires)
        saved = reports.download(s3, bucket, summary, save) if save else None
    except reports.NoReport as exc:
        common.fail(f"{exc}: run the drift job first (creditwatch drift --last 1h)")
    # Signed with the caller's credentials: a session's link lasts no longer than the session.
    summary.update({"report_url": link, "report_url_expires_in_s": expires, "saved_to": str(saved) if saved else None})
    if as_json:
        common.print_json(summary)
        return
    render.report(summary, expires, saved)


@report_app.command("list")
def report_list(
    bucket: Bucket = None,
    limit: Annotated[int, typer.Option(help="How many runs")] = 20,
    as_json: Json = False,
) -> None:
    """The latest runs, reruns of one window side by side."""
    from creditwatch import reports

    s3, bucket, _ = _bucket(bucket)
    runs = reports.list_runs(s3, bucket, limit=limit)
    keys = ("window_start", "window_end", "run_id", "generated_at", "status", "drift_share", "dataset_drift")
    if as_json:
        common.print_json([{k: r.get(k) for k in (*keys, "summary_key", "report_html_key")} for r in runs])
        return
    render.runs(runs)


@report_app.command("index")
def report_index(
    bucket: Bucket = None,
    save: Annotated[
        Path | None, typer.Option(help="Write the page here (a file or a folder) instead of opening it")
    ] = None,
    copies: Annotated[
        int, typer.Option("--copies", min=0, help="How many of the newest reports to copy beside it")
    ] = 50,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Recreate the history from every summary in the bucket first")
    ] = False,
    registry_bucket: Annotated[
        str | None,
        typer.Option(
            help="Deployed stack: the ModelRegistryBucketName output, to mark the champion's moves on the charts "
            "(default: the local stack's registry)"
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """The report history: every report newest first with trend charts, opened in a browser (or saved).

    The charts mark each move of the champion (promotion, rollback) from the model registry's alias history.
    """
    import webbrowser

    from creditwatch import reports

    s3, bucket, deployed = _bucket(bucket)
    registry = registry_bucket if deployed else registry_bucket or _local_registry_bucket()
    rebuilt = None
    if rebuild:
        # Locally the bucket's page is rewritten too, with links through `creditwatch serve`; a deployed
        # stack's page is rewritten, with links through its API, by the next job run.
        from creditwatch.progress import progress_bar

        with progress_bar("summaries") as progress:
            publisher = None if deployed else _local_publisher(s3, bucket)
            rebuilt = reports.rebuild_history(s3, bucket, publisher, progress=progress, registry_bucket=registry)
    path = save or ROOT / "reports" / "index.html"
    if path.suffix != ".html":
        path = path / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        saved = reports.save_index(s3, bucket, path, copies, registry_bucket=registry)
    except reports.NoReport as exc:
        common.fail(str(exc))
    opened = False if save else webbrowser.open(saved.path.resolve().as_uri())
    if as_json:
        common.print_json({**saved.__dict__, "path": str(saved.path), "opened": opened, "rebuild": rebuilt})
        return
    render.report_index(saved, rebuilt, show_uri=not save and not opened)


def _local_registry_bucket() -> str:
    """The local stack's model registry bucket."""
    from creditwatch.local.template import Template

    return str(Template(endpoint=common.local_state().endpoint).ref("ModelRegistryBucket"))


def _local_publisher(s3: Any, bucket: str) -> Any:
    """Mints the local stack's token links (its generated key; links through `creditwatch serve`)."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.reports import Publisher, TokenKey, TokenLinks

    state = common.local_state()
    sm = stack.boto_client("secretsmanager", state.endpoint)
    secret = Template(endpoint=state.endpoint).ref("ReportLinkTokenSecret")

    def key() -> TokenKey:
        return TokenKey.from_secret(json.loads(sm.get_secret_value(SecretId=secret)["SecretString"]))

    return Publisher(s3=s3, bucket=bucket, tokens=TokenLinks(key=key, base_url=stack.local_api_url()))


@report_app.command("revoke")
def report_revoke(
    report_id: Annotated[str, typer.Argument(help="The report id whose token links stop working (or `index`)")],
    revoked_parameter: Annotated[
        str | None, typer.Option(help="Deployed stack: the ReportLinksRevokedParameterName output")
    ] = None,
    as_json: Json = False,
) -> None:
    """Revoke every token link to a report (adds its id to the deny-list): they answer 403 within a minute."""
    from creditwatch import reports

    parameter = revoked_parameter
    if parameter:
        import boto3

        ssm = boto3.client("ssm")  # the caller's credentials and region
    else:
        from creditwatch.local import stack
        from creditwatch.local.template import Template

        state = common.local_state()
        ssm = stack.boto_client("ssm", state.endpoint)
        parameter = Template(endpoint=state.endpoint).ref("ReportLinksRevokedParameter")
    try:
        revoked = reports.revoke(ssm, parameter, report_id)
    except ValueError as exc:
        common.fail(str(exc), errors.USAGE)
    if as_json:
        common.print_json({"revoked": revoked, "parameter": parameter})
        return
    typer.echo(f"revoked {report_id}: its links answer 403 within a minute ({len(revoked)} report(s) revoked)")
