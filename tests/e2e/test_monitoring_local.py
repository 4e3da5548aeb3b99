"""Drift reports and Slack alerts on a local stack, driven only through the `creditwatch` CLI.

One stack for the module: the steps build on each other like a day of traffic would
(stable traffic, then a shifted population with server errors, then recovery).
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from creditwatch.local.template import Template

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _event(name: str, **overrides: Any) -> str:
    event = json.loads((EVENTS / name).read_text())
    event.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in overrides.items()})
    return json.dumps(event)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def api(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`creditwatch serve` on a free port: the API report links open through; its log is the audit log."""
    from types import SimpleNamespace

    from conftest import free_port

    cli = local_stack.cli
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cli.env["CREDITWATCH_API_URL"] = url  # the base of the links the drift function mints
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            # Revocation reaches the reports function within ReportLinkCacheSeconds: 2 here, 60 by default.
            [cli.exe, "serve", "--port", str(port), "--parameter", "ReportLinkCacheSeconds=2"],
            env=cli.env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{url}health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield SimpleNamespace(url=url, log=log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        cli.env.pop("CREDITWATCH_API_URL", None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _status(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a GET that does not follow redirects."""
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def _audit(api: Any) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in api.log.read_text().splitlines() if x.startswith("{") and '"audit"' in x]
    return [line["audit"] for line in lines]


@pytest.fixture(scope="module")
def day(local_stack: Any, api: Any) -> dict[str, Any]:
    """Traffic in three windows, with marks between them."""
    cli = local_stack.cli
    # Stable traffic first: no drift verdict reads it (that one is tests/unit/test_drift.py's and the demo's), the
    # error rate's denominator does.
    marks: dict[str, Any] = {"stable": cli.json("simulate", "traffic", "--stable", "300", "--seed", "11", "--json")}
    time.sleep(1.2)
    marks["t1b"] = _now()
    marks["drift"] = cli.json(
        "simulate",
        "traffic",
        "--stable",
        "0",
        "--drift",
        "300",
        "--invalid",
        "20",
        "--errors",
        "40",
        "--seed",
        "12",
        "--json",
    )
    marks["t2"] = _now() + timedelta(seconds=1)
    return marks


def test_shifted_traffic_is_reported_with_its_features_and_a_working_link(
    local_stack: Any, day: dict[str, Any], stack_client: Any, api: Any
) -> None:
    out = local_stack.cli.json(
        "invoke",
        "DriftFunction",
        "-e",
        "-",
        stdin=_event("drift-window.json", start=day["t1b"], end=day["t2"], notify=True),
    )
    assert out["status"] == "ok" and out["dataset_drift"] is True
    assert out["rows_used"] == 300  # scored requests only: the invalid and failed ones are not inputs
    assert {"credit_amount", "duration_in_month", "age_in_years"} <= set(out["drifted_features"])
    # The link opens through our own route (`creditwatch serve` here, the HTTP API deployed).
    assert out["report_url"].startswith(f"{api.url}reports/{out['report_id']}?t=")
    assert out["report_url_signed_by"] == "link-token"
    with urllib.request.urlopen(out["report_url"], timeout=10) as resp:  # follows the 302 to moto
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
        html = resp.read()
        assert b"<!DOCTYPE html>" in html[:200] and b"credit_amount" in html
    status, headers, _ = _status(out["report_url"])
    assert status == 302 and "X-Amz-Expires=300" in headers["location"]  # minutes, signed by the role
    s3 = stack_client("s3")
    name = Template(endpoint=local_stack.endpoint).ref("ReportsBucket")
    summary = json.loads(s3.get_object(Bucket=name, Key=out["summary_key"])["Body"].read())
    assert summary["dataset_drift"] is True and summary["window_start"] == out["window_start"]
    latest = json.loads(s3.get_object(Bucket=name, Key="drift/latest.json")["Body"].read())
    assert latest["report_html_key"] == out["report_html_key"]
    # The audit log says who opened what.
    opened = [a for a in _audit(api) if a["event"] == "report_opened" and a["report_id"] == out["report_id"]]
    assert (
        len(opened) == 2 and opened[0]["source_ip"] == "127.0.0.1" and opened[0]["html_key"] == out["report_html_key"]
    )
    assert opened[0]["token_expires_at"] == out["report_url_expires_at"]
    day["drift_url"] = out["report_url"]
    day["drift_out"] = out


def test_report_command_gives_the_latest_report_a_fresh_link(
    local_stack: Any, day: dict[str, Any], tmp_path: Path
) -> None:
    # For the person whose Slack link has expired: the latest report, a new link, a local copy.
    out = local_stack.cli.json("report", "show", "--json", "--expires", "600", "--save", str(tmp_path))
    shifted = day["drift_out"]
    assert out["report_html_key"] == shifted["report_html_key"] and out["dataset_drift"] is True
    assert out["report_url"] != shifted["report_url"] and "X-Amz-Expires=600" in out["report_url"]
    with urllib.request.urlopen(out["report_url"], timeout=10) as resp:
        assert resp.status == 200 and b"credit_amount" in resp.read()
    saved = Path(out["saved_to"])
    assert saved.parent == tmp_path and b"<!DOCTYPE html>" in saved.read_bytes()[:200]
    assert json.loads(saved.with_suffix(".json").read_text())["summary_key"] == shifted["summary_key"]
    missing = local_stack.cli("report", "show", "--summary-key", "drift/reports/none/summary.json", check=False)
    assert missing.returncode == 1 and "no such summary" in missing.stderr


def test_too_little_data_gives_insufficient_data_without_a_report(local_stack: Any) -> None:
    start = _now() + timedelta(days=1)
    out = local_stack.cli.json(
        "invoke",
        "DriftFunction",
        "-e",
        "-",
        stdin=_event("drift-window.json", start=start, end=start + timedelta(hours=1)),
    )
    assert out["status"] == "insufficient_data"
    assert out["report_url"] is None and out["report_html_key"] is None
    assert "insufficient data" in out["message"]


def test_invalid_drift_event_is_answered_precisely(local_stack: Any) -> None:
    out = local_stack.cli.json("invoke", "DriftFunction", "-e", str(EVENTS / "drift-invalid-window.json"))
    assert out["status"] == "invalid_event"
    assert "start must be before end" in json.dumps(out["errors"])


def _sink(local_stack: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = local_stack.cli.json("slack", "--json")
    return messages


def test_error_rate_alert_fires_once_then_resolves_and_drift_reaches_slack(
    local_stack: Any, day: dict[str, Any]
) -> None:
    cli = local_stack.cli
    alerts = str(EVENTS / "alerts-scheduled.json")
    # 40 server errors in 660 requests: 6.1% > 5%.
    first = cli.json("invoke", "AlertsFunction", "-e", alerts)
    kinds = sorted(p["kind"] for p in first["posted"])
    assert kinds == ["drift", "firing"], first["posted"]
    firing = [m for m in _sink(local_stack) if "ALERT" in m["payload"]["text"]]
    assert len(firing) == 1 and "Server error rate" in firing[0]["payload"]["text"]
    drift_notes = [m for m in _sink(local_stack) if "DRIFT" in m["payload"]["text"]]
    assert len(drift_notes) == 1 and day["drift_url"].split("?")[0] in json.dumps(drift_notes[0]["payload"])
    day["slack_drift_note"] = drift_notes[0]["payload"]

    again = cli.json("invoke", "AlertsFunction", "-e", alerts)
    assert again["posted"] == []
    assert len(_sink(local_stack)) == 2

    cli.json("simulate", "traffic", "--stable", "500", "--seed", "13", "--json")  # 40 of 1,160: 3.4%
    recovered = cli.json("invoke", "AlertsFunction", "-e", alerts)
    assert [p["kind"] for p in recovered["posted"]] == ["resolved"]
    messages = _sink(local_stack)
    assert len(messages) == 3 and "RESOLVED" in messages[-1]["payload"]["text"].upper()

    assert cli.json("invoke", "AlertsFunction", "-e", alerts)["posted"] == []


def test_drift_command_queues_its_slack_note_for_the_alerts_command_and_a_rerun_keeps_its_own_report(
    local_stack: Any, day: dict[str, Any]
) -> None:
    cli = local_stack.cli
    before, listed = len(_sink(local_stack)), {r["summary_key"] for r in cli.json("report", "list", "--json")}
    end = (day["t2"] + timedelta(seconds=1)).isoformat()  # a window of its own: a note of its own
    window = ("--start", day["t1b"].isoformat(), "--end", end)
    text = cli("drift", *window).stdout
    assert "dataset drift" in text and "queued in the notifications queue" in text and "creditwatch alerts" in text
    assert len(_sink(local_stack)) == before  # queued, not posted
    posted = cli("alerts").stdout
    assert "posted drift" in posted
    assert len(_sink(local_stack)) == before + 1
    assert "nothing posted" in cli("alerts").stdout
    # The same window again: a report of its own, listed after the first run's.
    rerun = cli.json("drift", *window, "--no-notify", "--json")
    assert rerun["dataset_drift"] is True
    runs = cli.json("report", "list", "--json")
    new = [r for r in runs if r["summary_key"] not in listed]
    assert len(new) == 2 and new[-1]["summary_key"] == rerun["summary_key"] and all(r["run_id"] for r in new)
    text = cli("report", "list").stdout
    assert all(r["summary_key"].rsplit("/", 2)[-2] in text for r in new)


def test_the_report_link_in_slack_opens_the_report_and_the_audit_log_shows_it(
    local_stack: Any, day: dict[str, Any], api: Any
) -> None:
    if "slack_drift_note" not in day:
        pytest.skip("needs the drift note the alerts test posts")
    note = day["slack_drift_note"]
    (button,) = [
        e for b in note["blocks"] if b["type"] == "actions" for e in b["elements"] if "report" in e["text"]["text"]
    ]
    link = button["url"]
    assert link == day["drift_url"]
    (context,) = [b for b in note["blocks"] if b["type"] == "context"]
    assert "report link lasts 7 days" in context["elements"][0]["text"]
    before = len(_audit(api))
    with urllib.request.urlopen(
        urllib.request.Request(link, headers={"User-Agent": "slack-reader/1"}), timeout=10
    ) as resp:
        assert resp.status == 200 and b"credit_amount" in resp.read()
    (entry,) = _audit(api)[before:]
    assert entry["event"] == "report_opened" and entry["user_agent"] == "slack-reader/1"
    assert entry["report_id"] == day["drift_out"]["report_id"]


def test_tampered_and_revoked_report_links_get_403_and_are_audited(
    local_stack: Any, day: dict[str, Any], api: Any
) -> None:
    link = day["drift_url"]
    base, token = link.split("?t=")
    version, expires, mac = token.split(".")
    for bad in (
        f"{base}?t={version}.{int(expires) + 3600}.{mac}",
        f"{base}?t={int(version) + 1}.{expires}.{mac}",
        base,
    ):
        status, headers, body = _status(bad)
        assert status == 403 and json.loads(body)["error"]["code"] == "forbidden" and "location" not in headers
    reasons = [a["reason"] for a in _audit(api) if a["event"] == "report_link_refused"][-3:]
    assert reasons == ["bad_signature", "wrong_key_version", "malformed"]
    # Revocation: the deny-list takes the report id; the same link then answers 403 once the function's
    # cache of the list expires (ReportLinkCacheSeconds, 2 s on this API).
    report_id = day["drift_out"]["report_id"]
    out = local_stack.cli.json("report", "revoke", report_id, "--json")
    assert report_id in out["revoked"]
    deadline = time.monotonic() + 30
    while _status(link)[0] != 403:
        assert time.monotonic() < deadline, "the revoked link still opens after 30 s"
        time.sleep(2)
    assert [a["reason"] for a in _audit(api) if a["event"] == "report_link_refused"][-1] == "revoked"


def _rows(page: str) -> list[str]:
    import re

    return re.findall(r'<tr data-report-id="([^"]+)"', page)


def test_the_history_link_in_slack_opens_the_index_whose_links_open_their_reports(
    local_stack: Any, day: dict[str, Any], api: Any
) -> None:
    import html
    import re

    if "slack_drift_note" not in day:
        pytest.skip("needs the drift note the alerts test posts")
    note = day["slack_drift_note"]
    (button,) = [
        e for b in note["blocks"] if b["type"] == "actions" for e in b["elements"] if "history" in e["text"]["text"]
    ]
    assert button["url"].startswith(f"{api.url}reports/index?t=")
    with urllib.request.urlopen(button["url"], timeout=10) as resp:
        page = resp.read().decode()
    rows = _rows(page)
    # Every drift run of this stack so far, newest first, the shifted window's among them.
    assert day["drift_out"]["report_id"] in rows and len(rows) >= 2
    links = dict(re.findall(r'<tr data-report-id="([^"]+)".*?<a href="([^"]+)"', page))
    revoked = day["drift_out"]["report_id"]  # the revocation test denied it
    other = next(r for r in rows if r != revoked)
    with urllib.request.urlopen(html.unescape(links[other]), timeout=10) as resp:
        assert resp.status == 200 and b"credit_amount" in resp.read()
    assert _audit(api)[-1]["report_id"] == other


def test_report_index_saves_the_history_with_local_copies_and_rebuilds_it_from_the_summaries(
    local_stack: Any, day: dict[str, Any], tmp_path: Path
) -> None:
    cli = local_stack.cli
    out = cli.json("report", "index", "--save", str(tmp_path / "h" / "index.html"), "--json", "--copies", "2")
    assert out["opened"] is False and out["entries"] >= 2 and out["linked"] == 2
    page = (tmp_path / "h" / "index.html").read_text()
    rows = _rows(page)
    assert len(rows) == out["entries"]
    for report_id in rows[:2]:
        copy = tmp_path / "h" / "history" / f"{report_id}.html"
        assert f'href="history/{report_id}.html"' in page and copy.stat().st_size > 100_000
    rebuilt = cli.json("report", "index", "--rebuild", "--save", str(tmp_path / "r"), "--json")
    assert rebuilt["rebuild"]["added"] == 0 and rebuilt["rebuild"]["entries"] == out["entries"]
    assert rebuilt["rebuild"]["index_rewritten"] == 1 and (tmp_path / "r" / "index.html").exists()
    usage = cli("report", "show", "--rebuild", check=False)
    assert usage.returncode == 2 and "No such option: --rebuild" in usage.stderr
