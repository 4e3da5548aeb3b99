"""The README's first command: `creditwatch demo` (what `make demo` runs), on a stack of its own."""

from __future__ import annotations

import copy
import json
import re
import socket
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_with_a_stack_already_up_runs_on_its_own_and_reports_true_state(local_stack: Any, tmp_path: Path) -> None:
    cli = local_stack.cli
    # The user's stack already holds traffic of its own, server errors included: none may reach the verdicts.
    cli("simulate", "traffic", "--stable", "30", "--errors", "30", "--seed", "5", "--json")
    reports = tmp_path / "reports"
    proc = cli("demo", "--json", "--reports-dir", str(reports))
    result = json.loads(proc.stdout)
    assert result["ok"] is True, [s for s in result["steps"] if not s["ok"]]
    assert result["traffic"]["predictions"] == 800
    assert result["alerts"]["stats"]["requests"] == 900  # 820 + 80 of its own, none of the user's 60
    assert result["drift_baseline"]["dataset_drift"] is False
    assert result["drift"]["dataset_drift"] is True and result["drift"]["drifted_features"]
    report = Path(result["report_path"])
    assert report.parent == reports and report.stat().st_size > 100_000
    assert report.with_suffix(".json").exists()
    # The quality job over the labelled history, whose outcomes are the booked loans' (approved applicants
    # only): as validated before the change, degraded by the concept drift after it, which the estimate
    # (from the scores alone) cannot see.
    stable, drifted = result["quality_stable"], result["quality_drifted"]
    assert stable["verdict"] == "ok" and drifted["verdict"] == "degraded", (stable["reasons"], drifted["reasons"])
    assert result["history"]["outcomes"]["population"] == "approved"
    assert stable["population"]["name"] == drifted["population"]["name"] == "booked_loans"
    assert stable["population"]["refused_labelled"] == drifted["population"]["refused_labelled"] == 0
    assert any(r.startswith("expected cost per booked loan") for r in drifted["reasons"])
    # Their bad rate rises past the estimate's for the same approvals; the estimate's AUC stays at validation.
    real, est = drifted["realized"]["bad_rate_approved"], drifted["estimated"]["bad_rate_approved"]
    assert real["low"] > est["high"]
    assert abs(drifted["estimated"]["auc"]["value"] - drifted["validation_scored"]["auc"]["value"]) < 0.05
    # The report history beside it: every run, newest first, each linked to its copy.
    index = Path(result["index_path"])
    page = index.read_text()
    assert index.parent == reports
    assert re.findall(r'<tr data-report-id="([^"]+)"', page) == [
        drifted["report_id"],
        stable["report_id"],
        result["drift"]["report_id"],
        result["drift_baseline"]["report_id"],
    ]
    assert (reports / "history" / f"{result['drift']['report_id']}.html").stat().st_size > 100_000
    texts = [m["payload"]["text"] for m in result["slack_messages"]]
    assert len(texts) == 3 and any("ALERT" in t for t in texts) and any("DRIFT" in t for t in texts)
    assert sum("MODEL QUALITY DEGRADED" in t for t in texts) == 1
    # Its own stack, on another port, reported stopped and really stopped; the user's still runs, untouched.
    assert result["stack"]["endpoint"] != local_stack.endpoint and result["stack"]["state"] == "stopped"
    demo_cli = copy.copy(cli)
    demo_cli.env = {**cli.env, "CREDITWATCH_STATE_DIR": result["stack"]["state_dir"]}
    assert demo_cli("local", "status", check=False).returncode == 3
    # The loop after the quality alert: a challenger from the matured outcomes, shadowed on every application of
    # its window (the swap set adds up to them), compared on the booked loans' outcomes, promoted (forced over the
    # comparison's reject on fairness by sex, and recorded so), and the new champion judged against its own card.
    loop = result["loop"]
    shadow, figures = loop["shadow"], loop["comparison"]["figures"]
    assert sum(figures["swap_set"].values()) == figures["shadow_rows"] == shadow["sent"]
    assert figures["realized"]["rows"] == shadow["outcomes_posted"]
    compared = next(s for s in result["steps"] if s["name"].startswith("compare job"))
    auc = figures["realized"]["difference"]["auc"]
    assert (
        f"AUC difference (challenger minus champion) on {figures['realized']['rows']} booked loans"
        in compared["detail"]
    )
    assert f"{auc['value']:.3f} (95% {auc['low']:.3f} to {auc['high']:.3f})" in compared["detail"] and auc["low"] > 0
    move, history = loop["promotion"], loop["champion_history"]
    assert move["version"] == loop["challenger"]["version"] != loop["challenger"]["champion"]
    assert move["evidence_report_id"] == loop["comparison"]["report_id"]
    assert history[-1] == move and history[-2]["version"] == loop["challenger"]["champion"]
    assert (
        move["forced"] is (loop["comparison"]["verdict"] != "promote")
        and loop["comparison"]["verdict"] in move["reason"]
    )
    after = loop["quality"]
    # Judged against the new champion's card, its booked loans against the card's recent labelled holdout (the
    # changed world it was trained for): the new champion holds there.
    assert after["verdict"] == "ok", after["message"]
    assert after["rows"] == loop["promoted_traffic"]["sent"]
    judged = after["judged_against"]
    assert judged["version"] == move["version"] and judged["source"] == "registry" and judged["holdout"] == "recent"
    assert after["model_versions_in_cohort"] == {move["version"]: after["rows"]}
    # A reviewer: applications referred by the band and the audit share, some decided, a third against the model.
    review = result["review"]
    assert 0 < review["referred"] < review["applications"] and review["decided"] == 12 and review["overridden"] == 4
    assert review["referral_rate"] == review["referred"] / review["applications"]
    assert review["override_rate"] == 4 / 12 and review["pending"] == review["referred"] - 12
    reviewed = result["steps"][-1]
    assert f"{review['referred']} referred ({review['referral_rate']:.1%}" in reviewed["detail"]
    assert f"override rate {review['override_rate']:.1%}" in reviewed["detail"]
    # Its traffic went to the lake, and the drift runs say which engine read their window.
    assert sum(result["lake"]["decisions"].values()) >= result["traffic"]["predictions"] == 800
    shifted = next(s for s in result["steps"] if s["name"] == "drift job over the shifted window")
    assert f"window read by {result['drift']['engine']} ({result['drift']['rows_read']} rows" in shifted["detail"]
    # The demo's stack has stopped: `lake query` answers from the lake it left behind.
    # It holds the traffic and the labelled history's backfilled days (request id simulated-history-...).
    sql = (
        "SELECT decision, request_id LIKE 'simulated-history-%' AS simulated, count(*) AS n "
        "FROM predictions GROUP BY 1, 2"
    )
    proc = demo_cli("lake", "query", sql, "--json")
    rows = json.loads(proc.stdout)
    by_decision = {r["decision"]: r["n"] for r in rows if not r["simulated"]}
    # The traffic's decisions, and the loop's applications (exported for the last quality run).
    loop_sent = shadow["sent"] + loop["promoted_traffic"]["sent"]
    assert sum(n for d, n in by_decision.items() if d) == sum(result["lake"]["decisions"].values()) + loop_sent
    # The backfilled days, and any history hour a later export took from its pending marks (a record a loaded
    # host spilled and replayed); never more than the history wrote.
    simulated = sum(r["n"] for r in rows if r["simulated"])
    assert 0 < result["lake"]["history"]["records"] <= simulated <= result["history"]["records"]
    assert "the lake the demo left" in proc.stderr
    assert local_stack.endpoint in cli("local", "status").stdout
    assert cli.json("slack", "--json") == []  # the demo's Slack messages went to its own sink
    # README's sample output is this run's: the same steps in order, each saying the same words (its
    # figures and where the reports were saved aside: they move with the run's time window and folder).
    assert [(name, _words(name, detail)) for name, detail in _readme_steps()] == [
        (s["name"], _words(s["name"], s["detail"])) for s in result["steps"]
    ]


def _readme_steps() -> list[tuple[str, str]]:
    """The step lines of README's "What it prints" block: (name, detail)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = text[text.index("What it prints, abridged") :].split("```text\n", 1)[1].split("```", 1)[0]
    return [(m[1].strip(), m[2].strip()) for m in re.finditer(r"^ ok │ (.+?) │ (.+)$", block, re.M)]


# The comparison's verdict and its reasons (which attributes fall beyond noise) vary with the day's outcomes.
COMPARISON_REASONS = re.compile(r"verdict \w+ \(.*\): promoted")


def _words(name: str, detail: str) -> str:
    """A step's detail with every figure as # and the reports' folder left out; the day-dependent parts left out too."""
    detail = COMPARISON_REASONS.sub("verdict (reasons): promoted", detail)
    return re.sub(r"\d+(?:\.\d+)?", "#", re.sub(r"\S*/(?=index\.html)", "", detail)).strip()


def test_demo_refuses_a_port_that_is_taken(local_stack: Any) -> None:
    port = local_stack.endpoint.rsplit(":", 1)[1]
    proc = local_stack.cli("demo", "--port", port, check=False)
    assert proc.returncode == 6 and proc.stderr.startswith("error: the demo cannot start its own stack")
    assert "Traceback" not in proc.stderr


def test_demo_stops_at_the_first_step_that_cannot_do_its_job(fresh_cli: Any, tmp_path: Path) -> None:
    # Too little traffic for the drift job's minimum: the first drift step fails, the demo stops there, exit 1.
    proc = fresh_cli(
        "demo",
        "--stable",
        "10",
        "--drift",
        "10",
        "--errors",
        "1",
        "--port",
        str(_free_port()),
        "--reports-dir",
        str(tmp_path / "r"),
        check=False,
    )
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "insufficient data" in proc.stdout
    assert "demo FAILED at step 'drift job over the stable window'" in proc.stdout
    # No step after it ran: no shifted traffic, no labelled history, no loop.
    assert "shifted traffic" not in proc.stdout and "labelled history" not in proc.stdout
    assert "challenger" not in proc.stdout
