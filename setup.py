"""The dev install: every Lambda's package mapped from its own folder (what SAM packages), found by the layout.

A new function or layer (`functions/<name>/creditwatch_<name>`, `layers/<name>/python/creditwatch_<name>`) is
installed by `make setup` without editing this file (tests/unit/test_layout.py checks the layout).
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
PATTERNS = ("src/creditwatch", "layers/*/python/creditwatch_*", "functions/*/creditwatch_*")
PACKAGE_DIR = {
    path.name: path.relative_to(ROOT).as_posix()
    for pattern in PATTERNS
    for path in sorted(ROOT.glob(pattern))
    if (path / "__init__.py").is_file()
}

setup(package_dir=PACKAGE_DIR, packages=sorted(PACKAGE_DIR))
