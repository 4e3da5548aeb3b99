"""The `sam build` output of the zip functions, run under the Lambda Runtime Interface Emulator.

This is what `sam local invoke` runs inside its container: a missing requirement, a wrong Handler
string or a layer path that only works from the source tree fails here, not in a deploy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from creditwatch.local import rie
from creditwatch.local.template import Template

pytestmark = pytest.mark.slow
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
BYTECODE_CHECK = Path(__file__).with_name("bytecode_check.py")


def load_event(name: str) -> dict[str, Any]:
    """An event of events/ (the files `sam local invoke -e` takes)."""
    event: dict[str, Any] = json.loads((Path(__file__).parents[2] / "events" / name).read_text())
    return event


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`sam build` of each zip function into a folder of its own, the three at once.

    Each build is mostly pip and compileall waiting on the disk: at once they took 21 s against 36 s one after
    the other (this machine). Each has a parent folder of its own, where `sam build` writes its build.toml.
    """
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("sam-build")
    functions = ("PredictFunction", "AlertsFunction", "ReportsFunction")
    with ThreadPoolExecutor(max_workers=len(functions)) as pool:
        built = pool.map(lambda fn: rie.sam_build(fn, root / fn / "build"), functions)
        return dict(zip(functions, built, strict=True))


@pytest.fixture(scope="module")
def template(local_stack: Any) -> Template:
    """template.yaml resolved against this module's local stack."""
    return Template(endpoint=local_stack.endpoint)


def test_predict_function_and_layers_fit_lambda_zip_limit(builds: dict[str, Path]) -> None:
    fn = rie.built_function("PredictFunction", builds["PredictFunction"])
    total = _size(fn.task_root) + sum(_size(layer) for layer in fn.layer_dirs)
    print(f"\nPredictFunction built: {total / 2**20:.1f} MB unzipped with its layers (limit 250 MB)")
    assert total < LAMBDA_UNZIPPED_LIMIT
    # scikit-learn stays out of the runtime: the layer scores with numpy.
    assert not list(fn.task_root.glob("sklearn*")) and not list(fn.task_root.glob("scipy*"))


@pytest.mark.parametrize("function", ["PredictFunction", "AlertsFunction", "ReportsFunction"])
def test_built_functions_ship_valid_bytecode_for_every_module_they_import(
    builds: dict[str, Path], function: str
) -> None:
    import subprocess
    import sys

    fn = rie.built_function(function, builds[function])
    roots = [str(fn.task_root)] + [str(layer / "python") for layer in fn.layer_dirs]
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PREDICTIONS_TABLE": "t",
        "ALERT_STATE_TABLE": "t",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-B", str(BYTECODE_CHECK), fn.handler.rsplit(".", 1)[0], *roots],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["bad"] == [] and report["checked"] > 100, report


def test_built_predict_answers_every_route_event(
    builds: dict[str, Path], template: Template, local_stack: Any, stack_client: Any
) -> None:
    expected = {
        "predict-valid.json": 200,
        "predict-valid-snake-case.json": 200,
        "predict-batch-valid.json": 200,
        "predict-missing-field.json": 422,
        "predict-invalid-code-and-range.json": 422,
        "predict-malformed-json.json": 400,
        "predict-empty-body.json": 400,
        "health.json": 200,
        "model-info.json": 200,
        "openapi.json": 200,
        "not-found.json": 404,
        # No prediction of the stack has these ids: every item is unknown_prediction, still a 200.
        "outcomes-valid.json": 200,
        "outcomes-invalid.json": 422,
    }
    ids = []
    with rie.emulator(template, "PredictFunction", local_stack.endpoint, builds["PredictFunction"]) as emu:
        for name, status in expected.items():
            result, function_error = emu.invoke(load_event(name))
            assert not function_error, (name, result, emu.logs()[-3000:])
            assert result["statusCode"] == status, (name, result)
            if name == "predict-valid.json":
                ids.append(json.loads(result["body"])["prediction_id"])
        logs = emu.logs()
    # The emulator's log is the function's CloudWatch stream: EMF metrics and the REPORT line.
    assert '"CloudWatchMetrics"' in logs and "REPORT RequestId" in logs
    item = stack_client("dynamodb").scan(TableName=template.ref("PredictionsTable"))["Items"]
    logged = {i["prediction_id"]["S"] for i in item}
    assert ids[0] in logged
    statuses = sorted(int(i["status"]["N"]) for i in item)
    assert statuses.count(422) >= 2 and statuses.count(400) >= 2  # failures are logged too


def test_built_alerts_runs_on_the_scheduled_event(
    builds: dict[str, Path], template: Template, local_stack: Any
) -> None:
    with rie.emulator(template, "AlertsFunction", local_stack.endpoint, builds["AlertsFunction"]) as emu:
        result, function_error = emu.invoke(load_event("alerts-scheduled.json"))
    assert not function_error, result
    assert {c["key"] for c in result["conditions"]} >= {"error_rate", "latency"}


def test_built_reports_refuses_a_link_whose_token_it_did_not_mint(
    builds: dict[str, Path], template: Template, local_stack: Any
) -> None:
    with rie.emulator(template, "ReportsFunction", local_stack.endpoint, builds["ReportsFunction"]) as emu:
        result, function_error = emu.invoke(load_event("report-open.json"))
    assert not function_error, result
    assert result["statusCode"] == 403 and json.loads(result["body"])["error"]["code"] == "forbidden"


def test_wrong_handler_string_fails_like_lambda(builds: dict[str, Path], template: Template, local_stack: Any) -> None:
    broken = builds["AlertsFunction"].parent / "alerts-broken-handler"
    shutil.copytree(builds["AlertsFunction"], broken, symlinks=True)
    tpl = broken / "template.yaml"
    tpl.write_text(
        tpl.read_text().replace("creditwatch_alerts.handler.lambda_handler", "creditwatch_alerts.nope.handler")
    )
    with rie.emulator(template, "AlertsFunction", local_stack.endpoint, broken) as emu:
        result, function_error = emu.invoke(load_event("alerts-scheduled.json"))
    assert function_error
    assert result["errorType"] == "Runtime.ImportModuleError"


def test_a_requirement_missing_from_the_build_fails(
    builds: dict[str, Path], template: Template, local_stack: Any
) -> None:
    # The developer's virtualenv has pydantic_settings; the function must not see it (python -S).
    broken = builds["AlertsFunction"].parent / "alerts-missing-requirement"
    shutil.copytree(builds["AlertsFunction"], broken, symlinks=True)
    code = rie.built_function("AlertsFunction", broken).task_root
    for path in code.glob("pydantic_settings*"):
        shutil.rmtree(path)
    with rie.emulator(template, "AlertsFunction", local_stack.endpoint, broken) as emu:
        result, function_error = emu.invoke(load_event("alerts-scheduled.json"))
    assert function_error
    assert result["errorType"] == "Runtime.ImportModuleError"
    assert "pydantic_settings" in result["errorMessage"]


def test_cli_invoke_build_prints_the_result(builds: dict[str, Path], local_stack: Any) -> None:
    proc = local_stack.cli(
        "invoke",
        "PredictFunction",
        "--build",
        "--build-dir",
        str(builds["PredictFunction"]),
        "-e",
        str(Path(__file__).parents[2] / "events/predict-valid.json"),
    )
    result = json.loads(proc.stdout)
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["decision"] in ("approve", "refuse")
    assert "REPORT RequestId" in proc.stderr
