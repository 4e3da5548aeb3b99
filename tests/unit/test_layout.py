"""The house's layout rules (docs/develop.md "Where things go"), checked so that a new function cannot skip one."""

from __future__ import annotations

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


def test_every_function_package_is_installed_and_type_checked() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir = config["tool"]["setuptools"]["package-dir"]
    mypy_path = config["tool"]["mypy"]["mypy_path"].split(":")
    for name, path in _function_packages().items():
        assert package_dir.get(name) == str(path.relative_to(ROOT)), name
        assert str(path.parent.relative_to(ROOT)) in mypy_path, name
        assert name in config["tool"]["setuptools"]["packages"], name


def test_every_image_job_of_the_template_is_copied_into_the_image_from_its_own_folder() -> None:
    copied = set(re.findall(r"^COPY functions/(\w+)/(creditwatch_\w+) ", DOCKERFILE.read_text(), re.M))
    jobs = _image_packages()
    assert jobs >= {"creditwatch_drift", "creditwatch_quality", "creditwatch_lake_export"}
    for package in jobs:
        folder = package.removeprefix("creditwatch_")
        assert (folder, package) in copied, f"{package}: no COPY functions/{folder}/{package} line in the Dockerfile"


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
