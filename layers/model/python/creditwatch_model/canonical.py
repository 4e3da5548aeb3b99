"""Canonical floats for artifacts: 12 significant digits, so another CPU's last-bit differences do not show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# A float64 carries ~16 digits; BLAS kernels, SIMD exp/log and optimizers differ between CPUs in the last one or two.
SIGNIFICANT_DIGITS = 12


def canonical_float(value: float) -> float:
    """The float rounded to SIGNIFICANT_DIGITS significant digits (inf and nan unchanged)."""
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def canonical(value: Any) -> Any:
    """A JSON-able value with every float (numpy's too) canonical, in dicts, lists and tuples at any depth."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | np.floating):
        return canonical_float(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical JSON form for {type(value).__name__}")


def canonical_array(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A float64 array with every element canonical."""
    a = np.asarray(values, dtype=np.float64)
    flat = np.fromiter((canonical_float(v) for v in a.ravel()), dtype=np.float64, count=a.size)
    return flat.reshape(a.shape)


def canonical_json(doc: Any, indent: int = 2) -> str:
    """The JSON text of an artifact: canonical floats, keys in the given order, one trailing newline."""
    return json.dumps(canonical(doc), indent=indent) + "\n"


def write_json(path: Path, doc: Any, indent: int = 2) -> None:
    """Write a JSON artifact in its canonical form (the same values give the same bytes on any CPU)."""
    path.write_text(canonical_json(doc, indent))
