import json

import boto3
import pytest
from botocore.config import Config

from creditwatch import reports


def test_an_empty_bucket_has_no_report(aws, s3):
    with pytest.raises(reports.NoReport, match="no drift report yet"):
        reports.latest(s3, aws.ref("ReportsBucket"))


def test_latest_follows_the_pointer_and_the_link_needs_the_object(aws, tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(signature_version="s3v4"))  # as the CLI's
    bucket = aws.ref("ReportsBucket")
    keys = {"report_html_key": "drift/reports/w/report.html", "summary_key": "drift/reports/w/summary.json"}
    summary = {"status": "ok", "dataset_drift": True, **keys}
    s3.put_object(Bucket=bucket, Key=keys["summary_key"], Body=json.dumps(summary).encode())
    s3.put_object(Bucket=bucket, Key="drift/latest.json", Body=json.dumps(keys).encode())
    assert reports.latest(s3, bucket) == summary
    with pytest.raises(s3.exceptions.ClientError):  # the HTML is not there: no link to nothing
        reports.fresh_link(s3, bucket, keys["report_html_key"], 60)
    s3.put_object(Bucket=bucket, Key=keys["report_html_key"], Body=b"<!DOCTYPE html>")
    assert "X-Amz-Expires=60" in reports.fresh_link(s3, bucket, keys["report_html_key"], 60)
    saved = reports.download(s3, bucket, summary, tmp_path / "out")
    assert saved.name == "drift-w.html" and saved.read_bytes() == b"<!DOCTYPE html>"
    assert json.loads(saved.with_suffix(".json").read_text()) == summary


def test_a_pointer_to_a_missing_summary_is_named(aws, s3):
    bucket = aws.ref("ReportsBucket")
    s3.put_object(Bucket=bucket, Key="drift/latest.json", Body=b'{"summary_key": "drift/reports/gone/summary.json"}')
    with pytest.raises(reports.NoReport, match=r"gone/summary\.json"):
        reports.latest(s3, bucket)
