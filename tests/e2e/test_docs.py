"""The docs are true: runnable blocks run, mentioned paths exist, docs/api.md's JSON matches the API of today.

A fenced block opened with ```` ```bash runnable ```` is run as written (bash -e, from the repository
root, against this module's local stack); mark only blocks that run offline within seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\s]+)`")


def _blocks(path: Path) -> list[tuple[str, str, int]]:
    text = path.read_text()
    return [(m.group(1).strip(), m.group(2), text[: m.start()].count("\n") + 1) for m in FENCE.finditer(text)]


RUNNABLE = [
    pytest.param(body, id=f"{path.name}:{line}")
    for path in DOCS
    for info, body, line in _blocks(path)
    if info.split() == ["bash", "runnable"]
]


def test_the_docs_mark_some_blocks_runnable() -> None:
    assert RUNNABLE, "no ```bash runnable block in README.md or docs/*.md"


@pytest.mark.parametrize("block", RUNNABLE)
def test_every_runnable_block_runs(block: str, local_stack: Any) -> None:
    cli = local_stack.cli
    env = {**cli.env, "PATH": f"{Path(cli.exe).parent}{os.pathsep}{cli.env.get('PATH', '')}"}
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{block}\nexited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr


def _top_level() -> set[str]:
    try:
        files = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):  # not a git checkout: what is on disk
        return {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    return {f.split("/", 1)[0] for f in files}


def _mentioned_paths() -> Iterator[tuple[str, str]]:
    """Repository paths in backticks (prose) and in runnable blocks: (where, path)."""
    top = _top_level()
    for doc in DOCS:
        text = doc.read_text()
        prose = FENCE.sub("", text)
        tokens = INLINE.findall(prose)
        for info, body, _ in _blocks(doc):
            if info.split() == ["bash", "runnable"]:
                tokens += body.split()
        for raw in tokens:
            token = raw.rstrip(".,:;)").removeprefix("./")
            if any(c in token for c in "<>*$[]{}|=") or "..." in token:
                continue  # placeholders, globs, variables
            if token.split("/", 1)[0] in top and (token in top or "/" in token):
                yield doc.name, token


def test_every_repository_path_the_docs_mention_exists() -> None:
    seen = list(_mentioned_paths())
    assert len(seen) > 20  # the check found the docs' paths
    missing = sorted({f"{where}: {path}" for where, path in seen if not (ROOT / path).exists()})
    assert not missing, missing


# ---- docs/api.md against the published OpenAPI document and today's answers ---------------------


@pytest.fixture(scope="module")
def api(local_stack: Any) -> Iterator[Any]:
    """A TestClient on the predict app, built as `creditwatch serve` builds it, on this module's stack."""
    import boto3
    from fastapi.testclient import TestClient

    from creditwatch.local.invoke import function_environment
    from creditwatch.local.stack import LOCAL_REGION
    from creditwatch.local.template import Template
    from creditwatch_common.aws import AwsClients
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    saved = dict(os.environ)  # the app's build may point this process's boto3 somewhere: put it back
    try:
        spec = Template(endpoint=local_stack.endpoint).function("PredictFunction")
        settings = PredictSettings.model_validate(function_environment(spec, local_stack.endpoint))
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=LOCAL_REGION
        )
        service = build(settings, AwsClients(session, endpoint_url=local_stack.endpoint))
        with TestClient(service.app) as client:
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _api_doc() -> str:
    return (ROOT / "docs" / "api.md").read_text()


def _request_examples() -> list[dict[str, Any]]:
    """JSON request bodies of docs/api.md: here-documents fed to curl."""
    return [json.loads(m) for m in re.findall(r"<<'JSON'\n(.*?)\nJSON", _api_doc(), re.S)]


def _json_blocks() -> list[Any]:
    """The ```json blocks of docs/api.md (`[...]` and `...` placeholders read as empty values)."""
    out = []
    for info, body, _ in _blocks(ROOT / "docs" / "api.md"):
        if info == "json":
            out.append(json.loads(re.sub(r"\[\.\.\.\]", "[]", body)))
    return out


def _schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**body, "components": spec["components"]}


def test_every_request_example_of_api_md_validates_against_the_published_openapi(api: Any) -> None:
    from jsonschema import Draft202012Validator

    spec = api.get("/openapi.json").json()
    examples = _request_examples()
    assert examples
    validator = Draft202012Validator(_schema(spec, "/predict"))
    for example in examples:
        problems = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(example)]
        assert not problems, problems


def _type_name(value: Any) -> str:
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def test_the_predict_answer_of_api_md_has_todays_fields_types_and_numbers(api: Any) -> None:
    example = _request_examples()[0]
    shown = next(b for b in _json_blocks() if isinstance(b, dict) and "probability_good_credit" in b)
    answer = api.post("/predict", json=example).json()
    assert set(shown) == set(answer)
    assert {k: _type_name(v) for k, v in shown.items()} == {k: _type_name(v) for k, v in answer.items()}
    for key in ("prediction", "decision", "risk_level", "confidence", "model_version"):
        assert shown[key] == answer[key], key
    for key in ("probability_good_credit", "probability_bad_credit"):
        decimals = len(str(shown[key]).split(".")[1])
        assert shown[key] == round(answer[key], decimals), (key, answer[key])


def test_the_error_shape_of_api_md_is_what_the_api_answers(api: Any) -> None:
    shown = next(b for b in _json_blocks() if isinstance(b, dict) and "error" in b)
    answer = api.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).json()
    assert set(shown) == set(answer) and set(shown["error"]) == set(answer["error"])
    assert {k: _type_name(v) for k, v in shown["error"].items()} == {
        k: _type_name(v) for k, v in answer["error"].items()
    }


def test_api_md_names_the_uci_attribute_the_model_does_not_use(model: Any) -> None:
    import csv

    with (ROOT / "data" / "german_credit.csv").open() as fh:
        columns = set(next(csv.reader(fh))) - {"credit_risk"}
    used = set(model.schema.names)
    assert len(columns) == 20 and len(used) == 19
    (unused,) = columns - used
    text = _api_doc()
    assert "19 of the 20" in text and f"`{unused}`" in text
