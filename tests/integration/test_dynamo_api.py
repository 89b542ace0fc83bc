"""The usage ledger's DynamoDB client: its SigV4 signature equals botocore's, and it retries what the SDK retries."""

import json
import socket
import ssl
import threading
import time
import zlib
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.auth
import botocore.credentials
import pytest
import trustme
from botocore.awsrequest import AWSRequest

from airelay.errors import NotConfigured
from airelay.usage import dynamo_api
from airelay.usage.dynamo_api import Credentials, DynamoApi, DynamoError, Signer, default_credentials

NOW = datetime(2026, 11, 26, 4, 30, 15)
BODY = b'{"TableName":"usage","Key":{"pk":{"S":"DAY#2026-11-26"},"sk":{"S":"total"}}}'


def botocore_authorization(monkeypatch, credentials: Credentials, host: str) -> dict:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: NOW)
    request = AWSRequest(
        "POST",
        f"http://{host}/",
        data=BODY,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"},
    )
    signer_credentials = botocore.credentials.Credentials(
        credentials.access_key, credentials.secret_key, credentials.token or None
    )
    botocore.auth.SigV4Auth(signer_credentials, "dynamodb", "eu-west-2").add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize("token", ["", "FwoGZXIvYXdzEJr//////////wEaDOZ+session/token="])
@pytest.mark.parametrize("host", ["dynamodb.eu-west-2.amazonaws.com", "127.0.0.1:8123"])
def test_the_signature_is_the_one_botocore_computes(monkeypatch, token, host):
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    ours = Signer("eu-west-2").headers(host, "DynamoDB_20120810.GetItem", BODY, credentials, NOW)
    theirs = botocore_authorization(monkeypatch, credentials, host)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20261126T043015Z"
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")


def test_a_new_day_gets_a_new_signing_key():
    signer = Signer("us-east-1")
    credentials = Credentials("AKID", "secret")
    first = signer.headers("h", "t", b"{}", credentials, NOW)["authorization"]
    later = signer.headers("h", "t", b"{}", credentials, NOW.replace(day=27))["authorization"]
    assert "/20261126/" in first and "/20261127/" in later and first.split("=")[-1] != later.split("=")[-1]


class ScriptedDynamo:
    """A stand-in DynamoDB endpoint on 127.0.0.1 that answers from a script: (status, body) pairs, "reset" to drop
    the connection unanswered, ("bad crc", body) to send a wrong x-amz-crc32, ("then close", body) to answer 200
    and close the connection (as a server closes an idle one)."""

    def __init__(self, *script, tls: ssl.SSLContext | None = None) -> None:
        self.script = list(script)
        self.scheme = "https" if tls else "http"
        self.requests: list[dict] = []
        self.closed_a_connection = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body)}
                )
                step = outer.script.pop(0) if outer.script else (200, {})
                if step == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    return
                status, answer = step
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                crc = zlib.crc32(data) + (1 if status == "bad crc" else 0)
                self.close_connection = status == "then close"
                self.send_response(200 if isinstance(status, str) else status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amz-crc32", str(crc))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request):
                super().shutdown_request(request)
                outer.closed_a_connection.set()

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def api(self, **options) -> DynamoApi:
        endpoint = f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"
        return DynamoApi(
            region="us-east-1", endpoint=endpoint, credentials=lambda: Credentials("AKID", "secret"), **options
        )


def refusal(code: str, message: str = "", **extra) -> dict:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}


def test_a_call_posts_the_request_to_its_target_and_returns_the_answer():
    with ScriptedDynamo((200, {"Item": {"committed": {"N": "0.5"}}})) as dynamo:
        answer = dynamo.api().call("GetItem", {"TableName": "usage"})
    assert answer == {"Item": {"committed": {"N": "0.5"}}}
    (request,) = dynamo.requests
    assert request["headers"]["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert request["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKID/")
    assert request["body"] == {"TableName": "usage"}


@pytest.fixture
def pauses(monkeypatch):
    """The retry pauses, recorded instead of slept."""
    taken = []
    monkeypatch.setattr(dynamo_api.time, "sleep", taken.append)
    return taken


def test_throttling_and_server_errors_are_retried_with_the_sdks_backoff(pauses):
    with ScriptedDynamo(
        (400, refusal("ProvisionedThroughputExceededException")),
        (500, refusal("InternalServerError")),
        (429, b""),
        (200, {"ok": True}),
    ) as dynamo:
        assert dynamo.api().call("UpdateItem", {}) == {"ok": True}
    assert len(dynamo.requests) == 4
    # full jitter: throttled from 1 s, otherwise from 25 ms, doubling per attempt
    assert 0 <= pauses[0] <= 1.0 and 0 <= pauses[1] <= 0.05 and 0 <= pauses[2] <= 4.0


def test_a_refusal_is_raised_at_once_with_its_code_and_body():
    item = {"committed": {"N": "0.9"}}
    with (
        ScriptedDynamo(
            (400, refusal("ConditionalCheckFailedException", "The conditional request failed", Item=item))
        ) as dynamo,
        pytest.raises(DynamoError) as refused,
    ):
        dynamo.api().call("UpdateItem", {})
    assert refused.value.code == "ConditionalCheckFailedException" and refused.value.body["Item"] == item
    assert not refused.value.retryable and len(dynamo.requests) == 1


def test_retries_stop_after_the_last_attempt(pauses):
    with ScriptedDynamo(*[(503, b"<html>Service Unavailable</html>")] * 5) as dynamo:
        with pytest.raises(DynamoError) as failed:
            dynamo.api(attempts=3).call("PutItem", {})
    assert failed.value.code == "HTTP503" and len(dynamo.requests) == 3


def test_an_answer_that_is_not_json_is_retried_then_refused(pauses):
    with ScriptedDynamo(*[(200, b"<html>gateway</html>")] * 5) as dynamo:
        with pytest.raises(DynamoError) as failed:
            dynamo.api().call("GetItem", {})
    assert failed.value.code == "UnreadableAnswer" and len(dynamo.requests) == 4


def test_a_silent_server_is_given_up_on_at_the_deadline():
    # GIVEN a server that accepts connections (the kernel's backlog) and never answers, and a client that may try
    # 10 times, 0.5 s each (5 s and more), but must give up after 1.5 s in all
    timeout_s, deadline_s = 0.5, 1.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        api = DynamoApi(
            region="us-east-1",
            endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}",
            credentials=lambda: Credentials("AKID", "secret"),
            timeout_s=timeout_s,
            deadline_s=deadline_s,
            attempts=10,
        )
        started = time.monotonic()
        with pytest.raises(DynamoError) as failed:
            api.call("GetItem", {})
    # THEN it waited at least one attempt's timeout, and gave up at the deadline, long before its attempts ran out
    assert failed.value.code == "ConnectionError" and "timed out" in str(failed.value)
    assert timeout_s <= time.monotonic() - started < 2 * deadline_s


def test_a_connection_the_server_closed_while_idle_is_replaced_before_the_call(pauses):
    with ScriptedDynamo(("then close", {"first": 1}), (200, {"second": 2})) as dynamo:
        api = dynamo.api(attempts=1)  # no retry needed: the closed connection is noticed before sending
        assert api.call("GetItem", {}) == {"first": 1}
        assert dynamo.closed_a_connection.wait(10)  # the server has closed its side
        assert api.call("GetItem", {}) == {"second": 2}
    assert len(dynamo.requests) == 2 and not pauses


def test_a_dropped_connection_is_reopened_and_the_call_retried(pauses):
    with ScriptedDynamo((200, {"first": 1}), "reset", (200, {"second": 2})) as dynamo:
        api = dynamo.api()
        assert api.call("GetItem", {}) == {"first": 1}
        assert api.call("GetItem", {}) == {"second": 2}
    assert len(dynamo.requests) == 3


def test_an_answer_damaged_in_transit_is_retried(pauses):
    with ScriptedDynamo(("bad crc", {"Item": {}}), (200, {"Item": {"n": {"N": "1"}}})) as dynamo:
        assert dynamo.api().call("GetItem", {}) == {"Item": {"n": {"N": "1"}}}
    assert len(dynamo.requests) == 2


@pytest.fixture
def tls_server_context(monkeypatch, tmp_path):
    """A certificate for 127.0.0.1 from a test CA that the client trusts through SSL_CERT_FILE."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    return context


def test_https_endpoints_are_spoken_to_over_verified_tls(tls_server_context):
    with ScriptedDynamo((200, {"TableNames": ["usage"]}), tls=tls_server_context) as dynamo:
        assert dynamo.api().call("ListTables", {}) == {"TableNames": ["usage"]}
    assert dynamo.requests[0]["headers"]["host"] == dynamo.api().host


def test_a_certificate_the_client_does_not_trust_is_refused(tls_server_context, monkeypatch, tmp_path):
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "other.pem"))
    with ScriptedDynamo((200, {}), tls=tls_server_context) as dynamo, pytest.raises(DynamoError) as refused:
        dynamo.api(attempts=1).call("ListTables", {})
    assert refused.value.code == "ConnectionError" and not dynamo.requests


def test_an_unreachable_endpoint_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = DynamoApi(
        region="us-east-1",
        endpoint=f"http://127.0.0.1:{port}",
        credentials=lambda: Credentials("AKID", "secret"),
        attempts=2,
    )
    with pytest.raises(DynamoError) as failed:
        api.call("GetItem", {})
    assert failed.value.code == "ConnectionError" and "ConnectionRefusedError" in str(failed.value)


def test_region_endpoint_and_keys_come_from_the_sdk_environment(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-northeast-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    assert DynamoApi().host == "dynamodb.ap-northeast-2.amazonaws.com"
    assert DynamoApi(region="cn-north-1").host == "dynamodb.cn-north-1.amazonaws.com.cn"
    assert default_credentials()() == Credentials("AKIDENV", "secret", "token")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert DynamoApi().host == "127.0.0.1:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    assert DynamoApi().host == "127.0.0.1:8000"


def test_without_keys_in_the_environment_the_sdk_chain_is_used(monkeypatch, tmp_path):
    isolate_from_this_machine(monkeypatch, tmp_path)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s3cret\n")
    assert default_credentials()() == Credentials("AKIDFILE", "s3cret", "")


def test_no_credentials_anywhere_is_a_configuration_error(monkeypatch, tmp_path):
    isolate_from_this_machine(monkeypatch, tmp_path)
    with pytest.raises(NotConfigured):
        default_credentials()


def isolate_from_this_machine(monkeypatch, tmp_path):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup from a test


def test_credentials_never_show_their_secrets():
    shown = repr(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", "session-token"))
    assert "AKIDEXAMPLE" in shown and "wJalr" not in shown and "session-token" not in shown
