"""Human review on a local stack, as people use it: `creditwatch serve` with referral on, the reviewer's page
in headless Chromium (Playwright driving Debian's chromium, no downloaded browser), and `creditwatch review`.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from creditwatch import errors
from creditwatch_predict.review_page import CSP

pytestmark = pytest.mark.server  # a local stack, an API process and a browser

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "review-page.png"
# Chromium as root, offline: no sandbox, and none of its own calls home (refused here, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        # CI installs it (.ci/run); elsewhere say so loudly rather than pass without a browser.
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return browser


@pytest.fixture(scope="module")
def served(local_stack: Any) -> Iterator[SimpleNamespace]:
    """`creditwatch serve` on the stack with the random audit at 1: every application is referred."""
    port = free_port()
    proc = subprocess.Popen(
        [local_stack.cli.exe, "serve", "--port", str(port), "--parameter", "ReviewAuditShare=1"],
        env=local_stack.cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()[-3000:]}") from None
                time.sleep(0.1)
        yield SimpleNamespace(base=base, stack=local_stack)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def applications(model: Any) -> list[dict[str, Any]]:
    """Training rows typed as the API validates them."""
    from creditwatch_model import REFERENCE_FILE, model_dir

    rows = []
    with (model_dir() / REFERENCE_FILE).open(newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append(
                {
                    f.name: row[f.name] if f.is_categorical else (int if f.dtype == "int" else float)(row[f.name])
                    for f in model.schema.features
                }
            )
    return rows


def refer(served: SimpleNamespace, model: Any, decision: str) -> dict[str, Any]:
    """POST /predict of a training row the model decides `decision` on: the answer (referred)."""
    app = next(a for a in applications(model) if model.score([a])[0].decision == decision)
    # A value of its own per call: the audit draw and the idempotent answer are the application's.
    app = {**app, "credit_amount": app["credit_amount"] + int(time.time_ns() % 997) + 1}
    request = urllib.request.Request(
        f"{served.base}/predict", data=json.dumps(app).encode(), headers={"Content-Type": "application/json"}
    )
    answer: dict[str, Any] = json.loads(urllib.request.urlopen(request, timeout=10).read())
    assert answer["decision"] == "refer" and answer["case_id"], answer
    return answer


def reviewer_token(endpoint: str, name: str) -> str:
    from creditwatch.local.reviewers import find_pool, issue_token
    from creditwatch.local.stack import boto_client

    cognito = boto_client("cognito-idp", endpoint)
    pool = find_pool(cognito, endpoint)
    assert pool is not None, "serve creates the local reviewers' pool"
    return issue_token(cognito, pool, name, ("reviewers",))


def one_error_line(proc: Any, code: int, *phrases: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return str(lines[0])


# ---- the reviewer's page in a browser -----------------------------------------------------------


def test_the_page_decides_a_case_that_leaves_the_queue_and_the_record_takes_the_final_decision(
    served: SimpleNamespace, model: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    browser_path = chromium()
    refused = refer(served, model, "refuse")
    other = refer(served, model, "approve")
    token = reviewer_token(served.stack.endpoint, "rita")
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            response = page.goto(f"{served.base}/review#id_token={token}")
            assert response is not None and response.status == 200
            assert response.headers["content-security-policy"] == CSP
            expect(page.locator("#who")).to_have_text("signed in as rita")
            row = page.locator(f'#queue tbody tr[data-case-id="{refused["case_id"]}"]')
            expect(row).to_be_visible()
            expect(page.locator(f'#queue tbody tr[data-case-id="{other["case_id"]}"]')).to_be_visible()
            assert row.locator("td").nth(1).inner_text().endswith((" s", " min"))  # its age
            row.click()
            expect(page.locator("#case-id")).to_have_text(refused["case_id"])
            expect(page.locator("#application tbody tr")).to_have_count(len(model.schema.features))
            assert page.locator("#reasons li").count() >= 1
            assert "refuse" in page.locator("#case-summary").inner_text()
            assert page.locator("#counterfactual").inner_text().strip()
            png = tmp_path / "review-page.png"
            page.screenshot(path=str(png), full_page=True)
            # The reviewer overrides the model's refusal.
            page.locator('input[name="decision"][value="approve"]').check()
            page.locator("#reason").select_option("collateral_or_guarantor")
            page.locator("#note").fill("guarantor's letter on file")
            page.locator("#submit").click()
            expect(page.locator("#status")).to_have_text(
                "Recorded: approve (collateral_or_guarantor), overriding the model."
            )
            expect(row).to_have_count(0)
            expect(page.locator(f'#queue tbody tr[data-case-id="{other["case_id"]}"]')).to_be_visible()
        finally:
            browser.close()
    record = served.stack.cli.json("log", "get", refused["prediction_id"])
    assert record["decision"] == "refuse"  # the model's, kept
    assert record["final_decision"] == "approve" and record["override"] is True and record["decided_by"] == "rita"
    assert record["decided_at"]
    # Nothing but this origin was asked for (no CDN, no font), and nothing broke the policy.
    assert requests and all(u.startswith(served.base + "/") for u in requests), requests
    assert problems == []
    if os.environ.get("UPDATE_DOCS_IMAGES"):
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS_IMAGE)


# ---- creditwatch review -------------------------------------------------------------------------


def test_review_list_show_and_decide_record_a_decision_as_the_api_does(served: SimpleNamespace, model: Any) -> None:
    cli = served.stack.cli
    answer = refer(served, model, "approve")
    queue = cli.json("review", "list", "--json")
    assert answer["case_id"] in [c["case_id"] for c in queue["cases"]]
    assert answer["case_id"] in cli("review", "list").stdout
    shown = cli.json("review", "show", answer["case_id"], "--json")
    assert shown["model_decision"] == "approve" and shown["status"] == "pending"
    assert shown["application"]["credit_amount"] > 0 and shown["reasons"]
    out = cli(
        "review", "decide", answer["case_id"], "--decision", "refuse", "--reason", "affordability_concern",
        "--reviewer", "omar", "--note", "rent arrears",
    ).stdout  # fmt: skip
    assert "refuse (affordability_concern) by omar" in out and "override" in out
    record = cli.json("log", "get", answer["prediction_id"])
    assert (record["final_decision"], record["decided_by"], record["override"]) == ("refuse", "omar", True)
    assert answer["case_id"] not in [c["case_id"] for c in cli.json("review", "list", "--json")["cases"]]
    # The event says it came from the command line.
    from creditwatch.local.stack import boto_client
    from creditwatch.local.template import Template
    from creditwatch_common.dynamo_json import deserialize

    ddb = boto_client("dynamodb", served.stack.endpoint)
    events = [
        {k: deserialize(v) for k, v in item.items()}
        for page in ddb.get_paginator("scan").paginate(TableName=Template().ref("PredictionsTable"))
        for item in page["Items"]
        if item.get("kind", {}).get("S") == "review" and item["case_id"]["S"] == answer["case_id"]
    ]
    assert [(e["channel"], e["decided_by"], e["override"]) for e in events] == [("cli", "omar", True)]


def test_a_second_decision_fails_naming_the_first_and_a_correction_replaces_it(
    served: SimpleNamespace, model: Any
) -> None:
    cli = served.stack.cli
    case_id = refer(served, model, "refuse")["case_id"]
    cli("review", "decide", case_id, "--decision", "refuse", "--reason", "agrees_with_model", "--reviewer", "ana")
    again = cli(
        "review", "decide", case_id, "--decision", "approve", "--reason", "verified_income", "--reviewer", "ben",
        check=False,
    )  # fmt: skip
    one_error_line(again, errors.FAILED, "decided already (refuse by ana", "--correction")
    fixed = cli.json(
        "review", "decide", case_id, "--decision", "approve", "--reason", "verified_income", "--reviewer", "ben",
        "--correction", "--json",
    )  # fmt: skip
    assert fixed["result"] == "corrected" and fixed["decided_by"] == "ben" and fixed["override"] is True
    assert [h["decided_by"] for h in fixed["history"]] == ["ana"]


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["--decision", "approve", "--reason", "gut_feeling"], errors.USAGE, "not a reason code; one of: agrees_with"),
        (["--decision", "maybe", "--reason", "other"], errors.USAGE, "maybe"),
        (["--decision", "approve", "--reason", "other", "--note", "x" * 501], errors.USAGE, "note"),
    ],
)
def test_a_bad_decision_is_one_usage_error_and_records_nothing(
    served: SimpleNamespace, model: Any, args: list[str], code: int, phrase: str
) -> None:
    cli = served.stack.cli
    answer = refer(served, model, "approve")
    proc = cli("review", "decide", answer["case_id"], *args, "--reviewer", "ana", check=False)
    assert proc.returncode == code and phrase in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli.json("review", "show", answer["case_id"], "--json")["status"] == "pending"


def test_an_unknown_case_fails_and_a_malformed_id_is_a_usage_error(served: SimpleNamespace) -> None:
    cli = served.stack.cli
    unknown = "01900000-0000-7000-8000-000000000000"
    one_error_line(cli("review", "show", unknown, check=False), errors.FAILED, f"no review case {unknown}")
    proc = cli(
        "review", "decide", unknown, "--decision", "approve", "--reason", "other", "--reviewer", "a", check=False
    )
    one_error_line(proc, errors.FAILED, f"no review case {unknown}")
    one_error_line(cli("review", "show", "case-1", check=False), errors.USAGE, "case-1 is not a case id")
    one_error_line(cli("review", "list", "--cursor", "nope", check=False), errors.USAGE, "--cursor nope")


def test_review_without_a_running_stack_says_so(fresh_cli: Any) -> None:
    one_error_line(fresh_cli("review", "list", check=False), errors.STACK_DOWN, "local up")


def test_serve_refuses_an_unknown_or_invalid_parameter(local_stack: Any) -> None:
    cli = local_stack.cli
    one_error_line(
        cli("serve", "--port", str(free_port()), "--parameter", "ReviewBnad=0.1", check=False),
        errors.USAGE,
        "ReviewBnad",
    )
    one_error_line(
        cli("serve", "--port", str(free_port()), "--parameter", "ReviewBand=2", check=False),
        errors.USAGE,
        "REVIEW_BAND",
    )
