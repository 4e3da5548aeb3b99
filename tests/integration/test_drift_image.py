"""DriftFunction is a container image this machine cannot build: check what the image would run.

The Dockerfile is followed into an empty task root (a clean `pip install -r requirements.txt
--target`, then the COPY lines with the job's JOB build argument), and the handler its ImageConfig.Command
names runs there under the Lambda Runtime Interface Emulator with `python -S`: only the task root and the
runtime client are importable, as in the image.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bytecode_check import unusable  # tests/integration is on sys.path (pytest rootdir-relative import)

from creditwatch.local import rie
from creditwatch.local.template import Template

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DriftFunction's task root, assembled without Docker."""
    out = tmp_path_factory.mktemp("drift-image")
    rie.image_function(Template(), "DriftFunction", out)
    return out


@pytest.fixture(scope="module")
def job_image(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Another job's own image: the drift image's installed dependencies hard-linked (the pip layer
    Docker's cache shares between the jobs' builds), without the drift job's package."""

    def build(logical_id: str) -> Path:
        out = tmp_path_factory.mktemp(f"{logical_id}-image")
        shutil.copytree(image / "task", out / "task", copy_function=os.link)
        shutil.rmtree(out / "task/creditwatch_drift")
        rie.image_function(Template(), logical_id, out)
        return out

    return build


def _window_event(start: datetime, end: datetime) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events/drift-window.json").read_text())
    event.update({"start": start.isoformat(), "end": end.isoformat()})
    return event


def test_image_holds_evidently_and_pins_pandas_below_3(image: Path) -> None:
    task = image / "task"
    assert (task / "creditwatch_drift/handler.py").exists()
    assert not (task / "creditwatch_quality").exists()  # each job's image holds its own package only
    assert (task / "creditwatch_model/artifacts/reference.csv").exists()
    assert (task / "creditwatch_common/log/writer.py").exists()
    versions = {p.name.split("-")[0].lower(): p.name.split("-")[1] for p in task.glob("*.dist-info")}
    assert versions["evidently"].startswith("0.7.")
    assert int(versions["pandas"].split(".")[0]) < 3  # Evidently 0.7 breaks on pandas 3
    assert "scikit_learn" in versions  # Evidently needs it; the image has room, the zip functions do not
    # The code copied in ships bytecode Python uses as is (pip compiles the dependencies).
    packages = (
        "creditwatch_drift",
        "creditwatch_model",
        "creditwatch_common",
        "creditwatch_analytics",
    )
    ours = [p for pkg in packages for p in (task / pkg).glob("*.py")]
    bad = {str(p): unusable(str(p), f"{p.parent.name}.{p.stem}") for p in ours}
    assert {p: why for p, why in bad.items() if why} == {} and len(ours) > 10


def test_the_lake_export_image_writes_the_lake_and_the_drift_image_reads_shifted_traffic_there(
    image: Path, job_image: Callable[[str], Path], local_stack: Any, stack_client: Any
) -> None:
    # One drift run in the image, through the lake engine: what the image alone brings (pyarrow's S3,
    # DuckDB) is read there; the table engine's read is the zip functions' boto3, proved in process.
    template = Template(endpoint=local_stack.endpoint)
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    local_stack.cli("simulate", "traffic", "--stable", "0", "--drift", "150", "--seed", "7", "--json")
    t1 = datetime.now(UTC) + timedelta(seconds=1)
    assert template.function("LakeExportFunction").handler == "creditwatch_lake_export.handler.lambda_handler"
    with rie.emulator(template, "LakeExportFunction", local_stack.endpoint, job_image("LakeExportFunction")) as emu:
        exported, export_error = emu.invoke(json.loads((ROOT / "events/lake-export.json").read_text()))
        logs = emu.logs()
    assert not export_error, (exported, logs[-4000:])
    assert exported["status"] == "ok" and exported["rows"] >= 150 and '"LakeRowsExported"' in logs
    listed = stack_client("s3").list_objects_v2(Bucket=template.ref("LakeBucket"), Prefix="predictions/dt=")
    assert listed["KeyCount"] >= 1
    with rie.emulator(
        template, "DriftFunction", local_stack.endpoint, image, extra_env={"ANALYTICS_ENGINE": "lake"}
    ) as emu:
        result, function_error = emu.invoke(_window_event(t0, t1))
        short, short_error = emu.invoke(_window_event(t1, t1 + timedelta(minutes=5)))
        logs = emu.logs()
    assert not function_error, (result, logs[-4000:])
    assert result["engine"] == "lake" and result["rows_read"] == 150, result["message"]
    assert result["status"] == "ok" and result["dataset_drift"] is True, result["message"]
    assert {"credit_amount", "duration_in_month"} <= set(result["drifted_features"])
    html = stack_client("s3").get_object(Bucket=template.ref("ReportsBucket"), Key=result["report_html_key"])
    assert b"<html" in html["Body"].read(2000).lower()
    assert '"DriftShare"' in logs  # EMF metrics in the function's log
    assert not short_error and short["status"] == "insufficient_data" and short["report_url"] is None


def test_the_quality_image_runs_the_quality_job_by_its_own_command(
    job_image: Callable[[str], Path], local_stack: Any
) -> None:
    template = Template(endpoint=local_stack.endpoint)
    assert template.function("QualityFunction").handler == "creditwatch_quality.handler.lambda_handler"
    with rie.emulator(template, "QualityFunction", local_stack.endpoint, job_image("QualityFunction")) as emu:
        result, error = emu.invoke(json.loads((ROOT / "events/quality-days-ago.json").read_text()))
        invalid, invalid_error = emu.invoke(json.loads((ROOT / "events/quality-invalid.json").read_text()))
        logs = emu.logs()
    assert not error, (result, logs[-4000:])
    # Nothing logged 84..28 days ago on a fresh stack: no data, and the run's metrics in its log.
    assert result["kind"] == "quality" and result["verdict"] == "no_data" and '"QualityRunFailed"' in logs
    assert result["validation"]["auc"]["value"] > 0.7  # the model's metadata, read in the image
    assert not invalid_error and invalid["status"] == "invalid_event"


def test_the_retrain_image_trains_from_its_own_files_the_version_model_train_challenger_gives(
    job_image: Callable[[str], Path], local_stack: Any, stack_client: Any
) -> None:
    from labelled import seed_cohort

    from creditwatch_common.log import PredictionLog
    from creditwatch_model import load_model

    template = Template(endpoint=local_stack.endpoint)
    assert template.function("RetrainFunction").handler == "creditwatch_retrain.handler.lambda_handler"
    built = job_image("RetrainFunction")
    assert (built / "task/data/german_credit.csv").is_file()  # the original data ships in the image
    # 200 predictions of a past week, outcomes on about 80%, on the stack's table (its champion: `local up`'s).
    shards = int(template.parameters["LogShards"])
    log = PredictionLog(dynamodb=stack_client("dynamodb"), table=template.ref("PredictionsTable"), shards=shards)
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 8, tzinfo=UTC)
    seed_cohort(
        log, stack_client("dynamodb"), log.table, shards, load_model(), n=200, start=start, end=end, coverage=0.8
    )
    event = {"start": start.isoformat(), "end": end.isoformat(), "reason": "image test"}
    with rie.emulator(template, "RetrainFunction", local_stack.endpoint, built) as emu:
        result, error = emu.invoke(event)
        logs = emu.logs()
    assert not error, (result, logs[-4000:])
    assert result["status"] == "registered" and result["new"] is True and result["moved"] is True, result["message"]
    # The same window through the CLI (this interpreter's scikit-learn): the image's version, already registered.
    by_cli = local_stack.cli.json(
        "model", "train", "--challenger", "--start", "2026-09-01", "--end", "2026-09-08", "--json"
    )
    assert by_cli["version"] == result["version"] and by_cli["new"] is False
