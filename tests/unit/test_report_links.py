"""Report links without a long-lived key: tokens minted and checked, and the reports function on moto."""

import functools
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities import parameters
from lambda_context import LambdaContext

from creditwatch_common.aws import AwsClients
from creditwatch_common.reports import (
    REPORT_ID,
    LinkRefused,
    Refusal,
    TokenKey,
    mint_token,
    report_html_key,
    report_keys,
    revoked_ids,
    verify_token,
)

KEY = TokenKey(version=3, key=b"k" * 40)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REPORT = "20261122T0000Z_20261123T0000Z.run-20261123T010203Z-a1b2c3"


def test_a_report_id_names_exactly_the_keys_the_drift_job_writes() -> None:
    for start, end in [
        (datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)),
        (datetime(2026, 11, 22, 9, 1, 2, tzinfo=UTC), datetime(2026, 11, 22, 10, 3, 4, tzinfo=UTC)),
    ]:
        keys = report_keys("drift", start, end, run_at=NOW)
        assert REPORT_ID.match(keys["report_id"])
        assert report_html_key("drift", keys["report_id"]) == keys["html"]
    for bad in ["../latest.json", "x", f"{REPORT}/..", f"{REPORT}.html", REPORT.replace("a1b2c3", "A1B2C3"), ""]:
        assert report_html_key("drift", bad) is None, bad


def test_a_minted_token_opens_its_report_until_it_expires() -> None:
    expires = int((NOW + timedelta(days=7)).timestamp())
    token = mint_token(KEY, REPORT, expires)
    assert token.startswith("3.") and len(token.split(".")[2]) == 43
    claims = verify_token(KEY, REPORT, token, NOW.timestamp())
    assert claims.key_version == 3 and claims.expires_at == expires


def _refusal(report_id: str, token: str | None, key: TokenKey = KEY, now: datetime = NOW) -> Refusal:
    with pytest.raises(LinkRefused) as err:
        verify_token(key, report_id, token, now.timestamp())
    return err.value.reason


def test_tampered_expired_foreign_and_malformed_tokens_are_refused() -> None:
    expires = int((NOW + timedelta(hours=1)).timestamp())
    token = mint_token(KEY, REPORT, expires)
    version, exp, mac = token.split(".")
    other = "20261122T0000Z_20261123T0000Z.run-20261123T010203Z-ffffff"
    assert _refusal(other, token) is Refusal.BAD_SIGNATURE  # another report
    assert _refusal(REPORT, f"{version}.{expires + 86400}.{mac}") is Refusal.BAD_SIGNATURE  # a longer life
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert _refusal(REPORT, f"{version}.{exp}.{flipped}") is Refusal.BAD_SIGNATURE
    assert _refusal(REPORT, token, now=NOW + timedelta(hours=1)) is Refusal.EXPIRED
    # A rotated key: a new version (and a new key) kills every link of the old one.
    assert _refusal(REPORT, token, key=TokenKey(version=4, key=b"n" * 40)) is Refusal.WRONG_KEY_VERSION
    assert _refusal(REPORT, f"4.{exp}.{mac}") is Refusal.WRONG_KEY_VERSION
    # The same version with another key (a secret replaced by hand without raising the version).
    assert _refusal(REPORT, token, key=TokenKey(version=3, key=b"n" * 40)) is Refusal.BAD_SIGNATURE
    for bad in [None, "", "3", f"{version}.{exp}", f"{token}.x", f"0.{exp}.{mac}", f"{version}.-1.{mac}"]:
        assert _refusal(REPORT, bad) is Refusal.MALFORMED, bad
    assert _refusal("../../latest.json", token) is Refusal.MALFORMED
    # `$` would let a trailing newline through; the whole id and token must match.
    assert _refusal(REPORT + "\n", token) is Refusal.MALFORMED and _refusal(REPORT, token + "\n") is Refusal.MALFORMED


def test_the_token_key_comes_from_the_secret_and_never_shows() -> None:
    key = TokenKey.from_secret({"key_version": "2", "key": "x" * 64})
    assert key.version == 2 and "x" * 8 not in repr(key)
    for bad in [{"key_version": "2", "key": "short"}, {"key": "x" * 64}, {"key_version": "0", "key": "x" * 64}, []]:
        with pytest.raises(ValueError):
            TokenKey.from_secret(bad)


def test_the_deny_list_parameter_lists_report_ids() -> None:
    assert revoked_ids("none") == frozenset() and revoked_ids(None) == frozenset()
    assert revoked_ids(f"{REPORT}, b ,none") == {REPORT, "b"}


# ---- the reports function on moto ---------------------------------------------------------------


@pytest.fixture
def published(aws, s3):
    """A drift report in the moto bucket, its id, and the token key of the generated secret."""
    keys = report_keys("drift", datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    s3.put_object(
        Bucket=aws.ref("ReportsBucket"),
        Key=keys["html"],
        Body=b"<!DOCTYPE html><p>credit_amount</p>",
        ContentType="text/html; charset=utf-8",
    )
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    secret = json.loads(sm.get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"])
    return keys["report_id"], TokenKey.from_secret(secret)


@pytest.fixture
def service(aws, caplog):
    caplog.set_level("INFO", logger="creditwatch-reports")
    from creditwatch_reports.app import build
    from creditwatch_reports.settings import ReportsSettings

    parameters.clear_caches()
    settings = ReportsSettings().model_copy(update={"cache_max_age_s": 0})
    assert settings.revoked_parameter == aws.ref("ReportLinksRevokedParameter")
    return build(settings, AwsClients())


Ctx = functools.partial(LambdaContext, "ReportsFunction", memory_limit_in_mb=256, request_id="r-1")


def event(report_id: str, token: str | None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "GET /reports/{report_id}",
        "rawPath": f"/reports/{report_id}",
        "pathParameters": {"report_id": report_id},
        "queryStringParameters": {"t": token} if token is not None else None,
        "headers": {"user-agent": "Slackbot-LinkExpanding 1.0"},
        "requestContext": {
            "requestId": "req-42",
            "http": {"method": "GET", "sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0 (analyst)"},
        },
    }


def audit_lines(caplog) -> list[dict]:
    """The audit records logged since the last call (Powertools' JSON line: message, service, audit)."""
    lines = [
        {"message": r.getMessage(), "service": r.name, "audit": r.audit} for r in caplog.records if hasattr(r, "audit")
    ]
    caplog.clear()
    return lines


def test_a_valid_link_redirects_to_a_short_s3_link_that_serves_the_report_and_is_audited(service, published, caplog):
    report_id, key = published
    expires = int((datetime.now(UTC) + timedelta(days=7)).timestamp())
    token = mint_token(key, report_id, expires)
    answer = service.handler(event(report_id, token), Ctx())
    assert answer["statusCode"] == 302 and answer["headers"]["Cache-Control"] == "no-store"
    location = answer["headers"]["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
    assert query["X-Amz-Expires"] == ["300"] and urllib.parse.urlparse(location).path.endswith("/report.html")
    # Signed by the function's own credentials (a role session in Lambda), not by any user's key.
    own = boto3.session.Session().get_credentials().access_key
    assert query["X-Amz-Credential"][0].startswith(f"{own}/")
    (line,) = audit_lines(caplog)
    audit = line["audit"]
    assert line["message"] == "report opened" and line["service"] == "creditwatch-reports"
    assert audit["report_id"] == report_id and audit["source_ip"] == "203.0.113.7"
    assert audit["user_agent"] == "Mozilla/5.0 (analyst)" and audit["request_id"] == "req-42"
    assert audit["token_expires_at"] == datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert audit["key_version"] == key.version and audit["opened_at"].endswith("Z")
    # The token and the S3 link are credentials: never in the log.
    out = json.dumps(line)
    assert token.split(".")[2] not in out and "X-Amz-Signature" not in out


def test_the_s3_link_of_the_redirect_serves_the_html(service, published):
    report_id, key = published
    token = mint_token(key, report_id, int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
    location = service.handle(event(report_id, token))["headers"]["Location"]
    # moto intercepts the pre-signed GET as S3 would answer it.
    resp = requests.get(location, timeout=5)
    assert resp.status_code == 200 and b"credit_amount" in resp.content
    assert resp.headers["Content-Type"].startswith("text/html")


def _refused(service, report_id, token, caplog) -> str:
    answer = service.handler(event(report_id, token), Ctx())
    assert answer["statusCode"] == 403, answer
    # One answer whatever the reason, in the predict API's error shape: nothing tells the caller which check failed.
    assert json.loads(answer["body"]) == {
        "error": {"code": "forbidden", "message": "this report link is not valid; ask for a new one", "details": []},
        "request_id": "req-42",
    }
    assert answer["headers"]["Content-Type"] == "application/json" and "Location" not in answer["headers"]
    (line,) = audit_lines(caplog)
    assert line["message"] == "report link refused" and line["audit"]["source_ip"] == "203.0.113.7"
    return str(line["audit"]["reason"])


def test_tampered_expired_wrong_version_and_unknown_reports_get_the_same_403(service, published, caplog):
    report_id, key = published
    later = int((datetime.now(UTC) + timedelta(days=1)).timestamp())
    token = mint_token(key, report_id, later)
    version, _exp, mac = token.split(".")
    assert _refused(service, report_id, f"{version}.{later + 60}.{mac}", caplog) == "bad_signature"
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
    assert _refused(service, report_id, mint_token(key, report_id, past), caplog) == "expired"
    old = TokenKey(version=key.version + 1, key=key.key)
    assert _refused(service, report_id, mint_token(old, report_id, later), caplog) == "wrong_key_version"
    unknown = report_id[:-6] + "000000"
    assert _refused(service, unknown, mint_token(key, unknown, later), caplog) == "unknown_report"
    assert _refused(service, report_id, None, caplog) == "malformed"
    assert _refused(service, "..%2Flatest.json", token, caplog) == "malformed"


def test_each_opening_and_refusal_is_counted(service, published, capsys):
    report_id, key = published
    token = mint_token(key, report_id, int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
    service.handler(event(report_id, token), Ctx())
    service.handler(event(report_id, token + "x"), Ctx())
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{") and "_aws" in x]
    assert [e.get("ReportsOpened") for e in emf if "ReportsOpened" in e] in ([[1.0]], [1.0])
    assert [e.get("ReportLinksRefused") for e in emf if "ReportLinksRefused" in e] in ([[1.0]], [1.0])


def test_a_revoked_report_is_refused_and_a_rotated_key_kills_old_links(service, published, aws, caplog):
    from creditwatch import reports

    report_id, key = published
    token = mint_token(key, report_id, int((datetime.now(UTC) + timedelta(days=1)).timestamp()))
    assert service.handler(event(report_id, token), Ctx())["statusCode"] == 302
    ssm = boto3.client("ssm", region_name="us-east-1")
    name = aws.ref("ReportLinksRevokedParameter")
    assert reports.revoke(ssm, name, report_id) == [report_id]
    caplog.clear()
    assert _refused(service, report_id, token, caplog) == "revoked"
    with pytest.raises(ValueError, match="not a report id"):
        reports.revoke(ssm, name, "../x")
    # Rotation: a new key and version in the secret; links minted before it die.
    ssm.put_parameter(Name=name, Value="none", Type="StringList", Overwrite=True)
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    rotated = {"key_version": str(key.version + 1), "key": "r" * 64}
    sm.put_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"), SecretString=json.dumps(rotated))
    assert _refused(service, report_id, token, caplog) == "wrong_key_version"
    fresh = mint_token(
        TokenKey.from_secret(rotated), report_id, int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    )
    assert service.handler(event(report_id, fresh), Ctx())["statusCode"] == 302


def test_an_unreadable_key_or_deny_list_fails_closed(aws, published, caplog):
    from creditwatch_reports.app import build
    from creditwatch_reports.settings import ReportsSettings

    report_id, key = published
    token = mint_token(key, report_id, int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))
    parameters.clear_caches()
    caplog.set_level("INFO", logger="creditwatch-reports")
    base = ReportsSettings().model_copy(update={"cache_max_age_s": 0})
    no_key = build(base.model_copy(update={"token_secret": "no-such-secret"}), AwsClients())
    assert _refused(no_key, report_id, token, caplog) == "key_unavailable"
    no_list = build(base.model_copy(update={"revoked_parameter": "/no/such/parameter"}), AwsClients())
    assert _refused(no_list, report_id, token, caplog) == "deny_list_unavailable"


def test_local_up_again_keeps_the_generated_key_and_the_revocations(aws) -> None:
    from creditwatch import reports
    from creditwatch.local.resources import create_resources

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    ssm = boto3.client("ssm", region_name="us-east-1")
    secret = json.loads(sm.get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"])
    # As CloudFormation's GenerateSecretString: letters and digits, the template's fields beside the key.
    assert secret["key_version"] == "1" and len(secret["key"]) == 64 and secret["key"].isalnum()
    reports.revoke(ssm, aws.ref("ReportLinksRevokedParameter"), REPORT)
    create_resources(aws, lambda service: boto3.client(service, region_name="us-east-1"), webhook_url="http://x/y")
    # A new key on every `local up` would be a rotation: every link minted so far would die.
    assert json.loads(sm.get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"]) == secret
    value = ssm.get_parameter(Name=aws.ref("ReportLinksRevokedParameter"))["Parameter"]["Value"]
    assert revoked_ids(value) == {REPORT}
    slack = json.loads(sm.get_secret_value(SecretId=aws.ref("SlackWebhookSecret"))["SecretString"])
    assert slack == {"webhook_url": "http://x/y"}  # the webhook is what `up` is told, each time


def test_a_quality_report_id_names_its_kind_and_maps_to_the_quality_prefix() -> None:
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    keys = report_keys("quality", start, end, kind="quality")
    assert keys["report_id"].startswith("quality.20261101T0000Z_20261108T0000Z.run-")
    assert REPORT_ID.fullmatch(keys["report_id"])
    assert report_html_key("drift", keys["report_id"]) == keys["html"]
    assert report_html_key("drift", keys["report_id"], {"quality": "q"}) == "q/" + keys["html"].split("/", 1)[1]
    assert report_html_key("drift", "fairness." + keys["report_id"].split(".", 1)[1]) is None


def test_a_quality_report_link_opens_the_quality_report_under_its_own_prefix(service, aws, s3):
    keys = report_keys("quality", datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC), kind="quality")
    assert keys["report_id"].startswith("quality.") and keys["html"].startswith("quality/reports/2026/10/01/")
    s3.put_object(Bucket=aws.ref("ReportsBucket"), Key=keys["html"], Body=b"<p>Model quality: OK</p>")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    key = TokenKey.from_secret(
        json.loads(sm.get_secret_value(SecretId=aws.ref("ReportLinkTokenSecret"))["SecretString"])
    )
    token = mint_token(key, keys["report_id"], int((datetime.now(UTC) + timedelta(days=1)).timestamp()))
    answer = service.handler(event(keys["report_id"], token), Ctx())
    assert answer["statusCode"] == 302
    location = answer["headers"]["Location"]
    assert urllib.parse.urlparse(location).path.endswith(keys["html"])
    resp = requests.get(location, timeout=5)  # moto serves the pre-signed GET in process
    assert resp.status_code == 200 and resp.content == b"<p>Model quality: OK</p>"
