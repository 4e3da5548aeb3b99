"""docs/deploy.md's parameter table against template.yaml: every parameter listed, defaults and bounds as declared."""

from __future__ import annotations

import re
from pathlib import Path

from creditwatch.local.template import Template

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def parameter_rows() -> dict[str, tuple[str, str]]:
    """Each parameter the table names: (default, allowed) as written (a row may name several)."""
    section = DEPLOY.read_text().split("\n## Parameters\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) < 4 or cells[0] in ("Parameter", "---"):
            continue
        names = [n.strip(" `") for n in re.split(r"\s*[/,]\s*", cells[0]) if n.strip()]
        defaults = re.split(r"\s+/\s+|,\s+", cells[1]) if len(names) > 1 else [cells[1]]
        allowed = cells[2].split(" / ") if len(names) > 1 else [cells[2]]
        assert len(defaults) == len(names), f"one default per parameter: {line}"
        for i, name in enumerate(names):
            # A row of several parameters gives each its bounds ("a / b"), or points elsewhere for them.
            rows[name] = (defaults[i], allowed[i] if len(allowed) == len(names) else "")
    return rows


def _number(text: str) -> float:
    return float(text.replace(",", "").replace(" ", ""))


def test_every_template_parameter_is_in_deploy_mds_table_with_its_default_and_bounds() -> None:
    params = Template().doc["Parameters"]
    rows = parameter_rows()
    assert sorted(set(params) - set(rows)) == [], "parameters missing from docs/deploy.md's table"
    assert sorted(set(rows) - set(params)) == [], "docs/deploy.md lists parameters the template does not have"
    for name, spec in params.items():
        default, allowed = rows[name]
        want = str(spec.get("Default", ""))
        got = default.strip('"` ')
        if want and re.fullmatch(r"[\d.]+", want):
            assert _number(got) == _number(want), (name, default, want)
        else:
            assert got == want, (name, default, want)
        if not allowed:
            continue  # a row of several parameters points elsewhere for their bounds
        if "AllowedValues" in spec:
            values = [str(v) for v in spec["AllowedValues"]]
            if "..." not in allowed:
                assert [v.strip() for v in allowed.split(",")] == values, (name, allowed, values)
            else:
                first, last = (v.strip() for v in allowed.split("..."))
                assert (first, last) == (values[0], values[-1]), (name, allowed, values)
        elif "MinValue" in spec:
            bounds = re.fullmatch(r"([\d., ]+?)\s*(?:-\s*([\d., ]+)|\.\.\.)", allowed)
            assert bounds, (name, allowed)
            assert _number(bounds.group(1)) == float(spec["MinValue"]), (name, allowed, spec["MinValue"])
            if "MaxValue" in spec:
                assert bounds.group(2) and _number(bounds.group(2)) == float(spec["MaxValue"]), (name, allowed)
