"""Whether a build's shipped bytecode is what Python would use as is, on a read-only code root.

/var/task and /opt are read-only on Lambda (the image's task root too): a module without valid .pyc
is compiled again at every cold start (the predict function's init went from ~0.5 s to ~1.1 s).

As a script (`python -I -S -B bytecode_check.py <module> <root>...`), it imports the module the way
Lambda does, with only the build importable and nothing written, and prints as JSON how many of the
modules it loaded from the roots it checked and which ones Python could not use as shipped.
Standard library only: it runs in an interpreter that sees nothing but the build.
"""

import importlib
import importlib.util
import json
import sys
from importlib._bootstrap_external import _classify_pyc, _validate_hash_pyc  # type: ignore[attr-defined]

_HASH_BASED, _CHECK_SOURCE = 0b01, 0b10


def unusable(source: str, name: str) -> str | None:
    """Why Python would not use the shipped .pyc of `source` (None when it would, unchanged)."""
    try:
        with open(importlib.util.cache_from_source(source), "rb") as fh:
            data = fh.read()
        flags = _classify_pyc(data, name, {})
        # A timestamp .pyc is only valid while the zip keeps the source's mtime; a hash one always is.
        if flags & (_HASH_BASED | _CHECK_SOURCE) != _HASH_BASED | _CHECK_SOURCE:
            return "not checked-hash"
        with open(source, "rb") as fh:
            _validate_hash_pyc(data, importlib.util.source_hash(fh.read()), name, {})
    except Exception as exc:  # noqa: BLE001 - any reason is reported, by path
        return repr(exc)
    return None


def main(module: str, roots: list[str]) -> None:
    """Import `module` from `roots` only and print the modules loaded from there without usable .pyc."""
    sys.path[:0] = roots
    importlib.import_module(module)
    bad, checked = [], 0
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None) or ""
        if not path.endswith(".py") or not any(path.startswith(root) for root in roots):
            continue
        checked += 1
        reason = unusable(path, name)
        if reason:
            bad.append(f"{path}: {reason}")
    print(json.dumps({"checked": checked, "bad": bad}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
