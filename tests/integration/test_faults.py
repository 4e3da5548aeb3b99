"""The fault-injection tools of tests/faults.py, against a real moto server and real boto3 clients."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from faults import FaultProxy, HangingServer, ResettingServer, SlackWebhook, wait_until
from moto.server import ThreadedMotoServer

from creditwatch.local.resources import create_resources
from creditwatch.local.template import Template

REGION = "us-east-1"


def client(service: str, endpoint: str | None = None, read_timeout: float = 5) -> Any:
    """A real boto3 client: short timeouts, one attempt (`max_attempts: 1` would still retry once)."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client(
        service,
        endpoint_url=endpoint,
        config=Config(connect_timeout=1, read_timeout=read_timeout, retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    """A moto server in a thread on a free port, with the template's tables and queues."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        template = Template(endpoint=endpoint)
        create_resources(template, lambda service: client(service, endpoint), webhook_url="http://127.0.0.1:9/never")
        sqs = client("sqs", endpoint)
        queue_url = sqs.get_queue_url(QueueName=template.physical_name("SpillQueue"))["QueueUrl"]
        yield type(
            "Moto", (), {"endpoint": endpoint, "table": template.ref("PredictionsTable"), "queue_url": queue_url}
        )
    finally:
        server.stop()
        if server._server is not None:
            server._server.server_close()


@pytest.fixture
def proxy(moto: Any) -> Iterator[FaultProxy]:
    with FaultProxy(moto.endpoint, seed=7) as p:
        yield p


def item(n: int, prefix: str) -> dict[str, Any]:
    return {"pk": {"S": f"FAULTS#{prefix}"}, "sk": {"S": f"{n:04d}"}, "n": {"N": str(n)}}


def stored(ddb: Any, table: str, prefix: str) -> list[str]:
    resp = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"FAULTS#{prefix}"}},
        ConsistentRead=True,
    )
    return [i["sk"]["S"] for i in resp["Items"]]


def drain(sqs: Any, queue_url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return sorted(bodies)
        for m in msgs:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


# ---- the proxy in front of moto ------------------------------------------------------------------


def test_without_faults_the_proxy_forwards_calls_verbatim(moto: Any, proxy: FaultProxy) -> None:
    ddb = client("dynamodb", proxy.url)
    ddb.put_item(TableName=moto.table, Item=item(1, "plain"))
    assert ddb.get_item(TableName=moto.table, Key={k: item(1, "plain")[k] for k in ("pk", "sk")})["Item"]["n"] == {
        "N": "1"
    }
    assert stored(client("dynamodb", moto.endpoint), moto.table, "plain") == ["0001"]
    put = proxy.stats("PutItem")
    assert (put.seen, put.forwarded, put.faulted) == (1, 1, 0)
    assert proxy.stats("DynamoDB_20120810.GetItem").forwarded == 1


def test_the_proxy_forwards_method_path_query_headers_and_body_verbatim() -> None:
    got: list[tuple[str, str, dict[str, str], bytes]] = []

    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.command, self.path, dict(self.headers), body))
            self.send_response(201)
            self.send_header("Content-Length", "2")
            self.send_header("X-Upstream", "yes")
            self.end_headers()
            self.wfile.write(b"hi")

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=upstream.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with FaultProxy(f"http://127.0.0.1:{upstream.server_address[1]}") as proxy:
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
            conn.request(
                "PUT",
                "/bucket/key?versionId=3&x-id=PutObject",
                body=b"\x00payload\xff",
                headers={"Host": "bucket.s3.example", "Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/s3/d"},
            )
            resp = conn.getresponse()
            assert (resp.status, resp.read(), resp.getheader("X-Upstream")) == (201, b"hi", "yes")
            conn.close()
            assert proxy.stats("PutObject").forwarded == 1
    finally:
        upstream.shutdown()
        upstream.server_close()
        thread.join()
    method, path, headers, body = got[0]
    assert (method, path, body) == ("PUT", "/bucket/key?versionId=3&x-id=PutObject", b"\x00payload\xff")
    assert headers["Host"] == "bucket.s3.example"
    assert headers["Authorization"] == "AWS4-HMAC-SHA256 Credential=a/b/c/s3/d"


def test_a_throttled_put_item_raises_provisioned_throughput_exceeded_and_writes_nothing(
    moto: Any, proxy: FaultProxy
) -> None:
    proxy.inject("PutItem", "throttle")
    ddb = client("dynamodb", proxy.url)
    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=moto.table, Item=item(1, "throttled"))
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert isinstance(err.value, ddb.exceptions.ProvisionedThroughputExceededException)
    assert stored(client("dynamodb", moto.endpoint), moto.table, "throttled") == []
    st = proxy.stats("PutItem")
    assert (st.seen, st.forwarded, st.faulted, st.by_kind["throttle"]) == (1, 0, 1, 1)

    proxy.clear("PutItem")
    ddb.put_item(TableName=moto.table, Item=item(1, "throttled"))
    assert stored(client("dynamodb", moto.endpoint), moto.table, "throttled") == ["0001"]


def test_a_server_error_gives_internal_server_error_with_status_500(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("PutItem", "server_error")
    with pytest.raises(ClientError) as err:
        client("dynamodb", proxy.url).put_item(TableName=moto.table, Item=item(1, "500"))
    assert err.value.response["Error"]["Code"] == "InternalServerError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert stored(client("dynamodb", moto.endpoint), moto.table, "500") == []


def test_a_count_faults_the_next_n_calls_and_then_forwards(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("PutItem", "throttle", count=2)
    ddb = client("dynamodb", proxy.url)
    outcomes = []
    for n in range(4):
        try:
            ddb.put_item(TableName=moto.table, Item=item(n, "count"))
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ProvisionedThroughputExceededException"] * 2 + ["ok"] * 2
    assert stored(client("dynamodb", moto.endpoint), moto.table, "count") == ["0002", "0003"]
    st = proxy.stats("PutItem")
    assert (st.seen, st.forwarded, st.faulted) == (4, 2, 2)


def test_a_probability_faults_that_share_of_calls_the_same_way_for_the_same_seed(moto: Any) -> None:
    def pattern(seed: int) -> list[bool]:
        with FaultProxy(moto.endpoint, seed=seed) as p:
            p.inject("*", "server_error", probability=0.5)
            ddb = client("dynamodb", p.url)
            out = []
            for _ in range(20):
                try:
                    ddb.describe_table(TableName=moto.table)
                    out.append(True)
                except ClientError:
                    out.append(False)
            st = p.stats("DescribeTable")
            assert st.seen == 20 and st.faulted == out.count(False) and st.forwarded == out.count(True)
            return out

    first = pattern(3)
    assert pattern(3) == first
    assert 3 <= first.count(False) <= 17


def test_a_partial_batch_write_writes_exactly_the_forwarded_items_and_returns_the_rest_as_unprocessed(
    moto: Any, proxy: FaultProxy
) -> None:
    proxy.inject("BatchWriteItem", "partial", forward=0.4)
    ddb = client("dynamodb", proxy.url)
    requests = [{"PutRequest": {"Item": item(n, "partial")}} for n in range(10)]
    resp = ddb.batch_write_item(RequestItems={moto.table: requests})

    unprocessed = resp["UnprocessedItems"][moto.table]
    assert unprocessed == requests[4:]  # botocore parsed them back into the request's shape
    assert stored(client("dynamodb", moto.endpoint), moto.table, "partial") == [f"{n:04d}" for n in range(4)]
    st = proxy.stats("BatchWriteItem")
    assert (st.forwarded, st.faulted, st.items_forwarded, st.items_refused) == (1, 1, 4, 6)

    proxy.clear()
    again = ddb.batch_write_item(RequestItems=resp["UnprocessedItems"])
    assert again["UnprocessedItems"] == {}
    assert stored(client("dynamodb", moto.endpoint), moto.table, "partial") == [f"{n:04d}" for n in range(10)]


def test_a_partial_batch_write_forwarding_nothing_returns_every_item_unprocessed(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("BatchWriteItem", "partial", forward=0)
    requests = [{"PutRequest": {"Item": item(n, "none")}} for n in range(3)]
    resp = client("dynamodb", proxy.url).batch_write_item(RequestItems={moto.table: requests})
    assert resp["UnprocessedItems"] == {moto.table: requests}
    assert stored(client("dynamodb", moto.endpoint), moto.table, "none") == []
    assert proxy.stats("BatchWriteItem").forwarded == 0


def test_a_partial_send_message_batch_reports_failed_entries_and_only_the_others_land_in_the_queue(
    moto: Any, proxy: FaultProxy
) -> None:
    sqs_moto = client("sqs", moto.endpoint)
    drain(sqs_moto, moto.queue_url)
    proxy.inject("SendMessageBatch", "partial", forward=0.5, sender_fault=False)
    entries = [{"Id": f"m{n}", "MessageBody": f"body-{n}"} for n in range(6)]
    resp = client("sqs", proxy.url).send_message_batch(QueueUrl=moto.queue_url, Entries=entries)

    assert sorted(e["Id"] for e in resp["Successful"]) == ["m0", "m1", "m2"]
    assert [(f["Id"], f["SenderFault"], f["Code"]) for f in resp["Failed"]] == [
        ("m3", False, "InternalError"),
        ("m4", False, "InternalError"),
        ("m5", False, "InternalError"),
    ]
    assert drain(sqs_moto, moto.queue_url) == ["body-0", "body-1", "body-2"]
    st = proxy.stats("AmazonSQS.SendMessageBatch")
    assert (st.forwarded, st.faulted, st.items_forwarded, st.items_refused) == (1, 1, 3, 3)


def test_a_throttled_sqs_call_raises_request_throttled_through_the_json_protocol(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("SendMessage", "throttle")
    sqs = client("sqs", proxy.url)
    with pytest.raises(ClientError) as err:
        sqs.send_message(QueueUrl=moto.queue_url, MessageBody="x")
    assert err.value.response["Error"]["Code"] == "RequestThrottled"
    assert isinstance(err.value, sqs.exceptions.RequestThrottled)
    assert proxy.stats("SendMessage").faulted == 1


def test_query_protocol_calls_are_named_by_their_action_parameter(moto: Any, proxy: FaultProxy) -> None:
    sts = client("sts", proxy.url)
    assert sts.get_caller_identity()["Account"]
    proxy.inject("GetCallerIdentity", "throttle")
    with pytest.raises(ClientError) as err:
        sts.get_caller_identity()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    st = proxy.stats("GetCallerIdentity")
    assert (st.seen, st.forwarded, st.faulted) == (2, 1, 1)


def test_a_throttled_s3_put_gives_slow_down_and_stores_nothing(moto: Any, proxy: FaultProxy) -> None:
    client("s3", moto.endpoint).create_bucket(Bucket="faults-tooling")
    proxy.inject("PutObject", "throttle")
    with pytest.raises(ClientError) as err:
        client("s3", proxy.url).put_object(Bucket="faults-tooling", Key="k", Body=b"x")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert client("s3", moto.endpoint).list_objects_v2(Bucket="faults-tooling").get("KeyCount") == 0


def test_a_per_service_endpoint_variable_routes_dynamodb_through_the_proxy_while_sqs_stays_on_moto(
    moto: Any, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.url)
    proxy.inject("*", "throttle")
    ddb, sqs = client("dynamodb"), client("sqs")  # no endpoint_url: from the environment

    with pytest.raises(ClientError) as err:
        ddb.put_item(TableName=moto.table, Item=item(1, "env"))
    assert err.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    sqs.send_message(QueueUrl=moto.queue_url, MessageBody="via-moto")
    assert "via-moto" in drain(sqs, moto.queue_url)
    assert set(proxy.all_stats()) == {"PutItem"}  # SQS never reached the proxy


def test_a_hanging_call_makes_the_client_read_timeout_fire(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("PutItem", "hang", hang_seconds=3)
    dynamodb = client("dynamodb", proxy.url, read_timeout=1)  # before the clock, as in the raw server's test below
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        dynamodb.put_item(TableName=moto.table, Item=item(1, "hang"))
    assert 0.9 <= time.monotonic() - started < 2.5
    assert proxy.stats("PutItem").by_kind["hang"] == 1


def test_a_reset_call_gives_a_connection_error_and_writes_nothing(moto: Any, proxy: FaultProxy) -> None:
    proxy.inject("PutItem", "reset")
    with pytest.raises(ConnectionClosedError):  # the request was sent, the answer reset
        client("dynamodb", proxy.url).put_item(TableName=moto.table, Item=item(1, "reset"))
    assert stored(client("dynamodb", moto.endpoint), moto.table, "reset") == []


# ---- raw TCP servers -----------------------------------------------------------------------------


def test_the_hanging_server_makes_a_client_with_a_one_second_read_timeout_fail_in_about_a_second() -> None:
    with HangingServer() as server:
        # Built before the clock: the claim is the call's timeout (with the new session counted, a loaded CI host
        # once measured 2.54 s).
        dynamodb = client("dynamodb", server.url, read_timeout=1)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            dynamodb.list_tables()
        assert 0.9 <= time.monotonic() - started < 2.5
        assert server.connections == 1


def test_the_resetting_server_gives_a_connection_error() -> None:
    with ResettingServer() as server:
        # reset before reading: a race between botocore's send and the RST, so either error
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
            client("dynamodb", server.url).list_tables()
        assert server.connections == 1
    with ResettingServer(read_request=True) as server:
        with pytest.raises(ConnectionClosedError):  # reset while botocore waits for the answer
            client("dynamodb", server.url).list_tables()
        assert server.connections == 1


def test_the_resetting_server_resets_a_raw_request_with_econnreset() -> None:
    with ResettingServer(read_request=True) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            with pytest.raises(ConnectionResetError):
                conn.request("POST", "/", body=b"{}")
                conn.getresponse()
        finally:
            conn.close()
        assert server.requests and server.requests[0].startswith(b"POST / HTTP/1.1")


def test_the_dropping_server_closes_after_the_request_without_an_answer() -> None:
    with ResettingServer("drop") as server:
        with pytest.raises(http.client.RemoteDisconnected):
            urllib.request.urlopen(urllib.request.Request(server.url, data=b'{"text":"x"}'), timeout=2)
        assert server.connections == 1
        assert server.requests[0].endswith(b'{"text":"x"}')


# ---- the Slack-like webhook ----------------------------------------------------------------------


def post(url: str, payload: dict[str, Any], timeout: float = 2) -> str:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return str(resp.read().decode())


def test_the_slack_webhook_answers_ok_and_records_the_payload_when_healthy() -> None:
    with SlackWebhook() as slack:
        assert post(slack.url, {"text": "hello"}) == "ok"
        assert slack.payloads == [{"text": "hello"}]
        assert slack.attempts == 1


def test_the_slack_webhook_dropping_connections_makes_urlopen_raise_remote_disconnected() -> None:
    with SlackWebhook("drop") as slack:
        with pytest.raises((http.client.RemoteDisconnected, urllib.error.URLError)):
            post(slack.url, {"text": "lost"})
        assert slack.payloads == [] and slack.attempts == 1

        slack.set_mode("ok")
        assert post(slack.url, {"text": "again"}) == "ok"
        assert slack.payloads == [{"text": "again"}]


def test_the_slack_webhook_resetting_gives_connection_reset() -> None:
    with SlackWebhook("reset") as slack:
        with pytest.raises((ConnectionResetError, urllib.error.URLError)):
            post(slack.url, {"text": "reset"})
        assert slack.payloads == []


def test_the_slack_webhook_hanging_makes_urlopen_time_out() -> None:
    with SlackWebhook("hang") as slack:
        started = time.monotonic()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            post(slack.url, {"text": "slow"}, timeout=0.5)
        assert time.monotonic() - started < 2
        assert wait_until(lambda: slack.attempts == 1)


# ---- hygiene ---------------------------------------------------------------------------------------


def test_stopping_the_tools_leaves_no_threads_and_frees_their_ports(moto: Any) -> None:
    before = set(threading.enumerate())
    ports = []
    with HangingServer() as hanging, SlackWebhook("hang") as slack, FaultProxy(moto.endpoint) as proxy:
        ports = [hanging.port, slack.port, proxy.port]
        proxy.inject("*", "hang")
        for url in (hanging.url, proxy.url):
            with pytest.raises(ReadTimeoutError):
                client("dynamodb", url, read_timeout=0.3).list_tables()
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            post(slack.url, {"text": "x"}, timeout=0.3)
    assert wait_until(lambda: set(threading.enumerate()) <= before, 3), set(threading.enumerate()) - before
    import socket

    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
