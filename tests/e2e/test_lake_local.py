"""The lake on a local stack, driven only through the `creditwatch` CLI: export, re-export, query, invoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_exported_traffic_answers_sql_and_a_second_export_duplicates_nothing(local_stack: Any) -> None:
    cli = local_stack.cli
    # Two hours exported: traffic that straddles an hour boundary is still all there.
    cli("simulate", "traffic", "--stable", "60", "--invalid", "5", "--seed", "3", "--json")
    first = cli("lake", "export", "--hours", "2").stdout
    assert "exported 65 record(s)" in first
    rows = cli.json("lake", "query", "SELECT decision, count(*) AS n FROM predictions GROUP BY 1", "--json")
    assert sum(r["n"] for r in rows if r["decision"]) == 60
    assert "exported 65 record(s)" in cli("lake", "export", "--hours", "2").stdout
    (total,) = cli.json(
        "lake", "query", "SELECT count(*) AS n, count(DISTINCT prediction_id) AS ids FROM predictions", "--json"
    )
    assert total == {"n": 65, "ids": 65}
    # The function itself, as the schedule invokes it (the drift image's code, its own command).
    result = cli.json("invoke", "LakeExportFunction", "-e", str(EVENTS / "lake-export.json"))
    assert result["status"] == "ok" and result["rows"] == 65 and len(result["hours"]) == 3


def test_a_query_error_is_one_line_not_a_traceback(local_stack: Any) -> None:
    proc = local_stack.cli("lake", "query", "SELEC 1", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: the query failed") and "Traceback" not in proc.stderr
