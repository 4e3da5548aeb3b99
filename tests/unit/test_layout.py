"""The house's layout rules (docs/develop.md "Where things go"), checked so that a new function cannot skip one."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

from creditwatch.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "functions/drift/Dockerfile"


def _function_packages() -> dict[str, Path]:
    return {p.name: p for p in sorted(ROOT.glob("functions/*/creditwatch_*")) if p.is_dir()}


def _image_packages() -> set[str]:
    template = Template()
    packages = set()
    for lid in template.functions():
        props = template.resources[lid]["Properties"]
        if props.get("PackageType") == "Image":
            packages.add(template.function(lid).handler.split(".")[0])
    return packages


def test_every_function_and_layer_package_is_installed_from_its_own_folder_and_type_checked() -> None:
    packages = {**_function_packages(), **{p.name: p for p in ROOT.glob("layers/*/python/creditwatch_*")}}
    checked = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert len(packages) >= 9
    for name, path in packages.items():
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin == str(path / "__init__.py"), name
        folders = (path.relative_to(ROOT), path.parent.relative_to(ROOT))
        assert any(folder.match(pattern) for folder in folders for pattern in checked), name


def test_every_image_job_builds_its_own_folder_into_the_one_dockerfile_through_its_template_block() -> None:
    template = Template()
    dockerfile = DOCKERFILE.read_text()
    jobs = set()
    for lid in template.functions():
        res = template.resources[lid]
        if res["Properties"].get("PackageType") != "Image":
            continue
        job = res["Metadata"]["DockerBuildArgs"]["JOB"]
        assert res["Metadata"]["Dockerfile"] == "functions/drift/Dockerfile", lid
        assert res["Properties"]["ImageConfig"]["Command"] == [f"creditwatch_{job}.handler.lambda_handler"], lid
        assert (ROOT / "functions" / job / f"creditwatch_{job}" / "handler.py").is_file(), lid
        jobs.add(job)
    assert jobs >= {"drift", "quality", "lake_export", "compare", "retrain"}
    # Nothing in the Dockerfile names a job: a new one is its package and its template block.
    assert not any(f"creditwatch_{job}" in dockerfile for job in jobs)
    assert "COPY functions/${JOB}/creditwatch_${JOB} ${LAMBDA_TASK_ROOT}/creditwatch_${JOB}" in dockerfile


def test_the_zip_functions_and_their_layers_never_import_the_image_only_package() -> None:
    zip_code = [
        *ROOT.glob("layers/common/python/**/*.py"),
        *ROOT.glob("layers/model/python/**/*.py"),
        *(p for name, pkg in _function_packages().items() if name not in _image_packages() for p in pkg.rglob("*.py")),
    ]
    imports = re.compile(r"^\s*(?:from|import) creditwatch_analytics\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in zip_code if imports.search(p.read_text())]
    assert len(zip_code) > 40 and offenders == []


def test_image_jobs_import_each_other_only_through_the_shared_package() -> None:
    jobs = _image_packages()
    offenders = []
    for name in jobs:
        for path in _function_packages()[name].rglob("*.py"):
            others = {m for m in re.findall(r"^\s*(?:from|import) (creditwatch_\w+)", path.read_text(), re.M)}
            if others & (jobs - {name}):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
