"""The container's AWS clients against a server on loopback that records each request's connection and access key:
reset() (the SnapStart restore hook's part) drops the kept-alive connection and the credentials resolved before,
and the clients trust the CA bundle the SDK is given (AWS_CA_BUNDLE)."""

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme
from botocore.exceptions import SSLError

from airelay import aws
from airelay.settings import get_settings

KEY = {"pk": {"S": "DAY#2026-11-26"}, "sk": {"S": "total"}}


class Recorder(ThreadingHTTPServer):
    """Answers every DynamoDB call with an empty JSON object; notes (client port, access key) per request and the
    client ports whose connections were closed."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.seen: list[tuple[int, str]] = []
        self.closed: set[int] = set()
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def endpoint(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


class RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB's endpoints

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        access_key = self.headers["authorization"].split("Credential=", 1)[1].split("/", 1)[0]
        self.server.seen.append((self.client_address[1], access_key))
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def finish(self) -> None:
        super().finish()
        self.server.closed.add(self.client_address[1])

    def log_message(self, *_) -> None:
        pass


@pytest.fixture
def serve():
    running = []

    def start(tls: ssl.SSLContext | None = None) -> Recorder:
        server = Recorder(tls)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        return server

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


@pytest.fixture
def environment(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    aws.reset()


def test_reset_drops_the_connection_and_the_credentials_taken_before(serve, environment):
    server = serve()
    environment.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
    aws.reset()
    # GIVEN the container's DynamoDB client, used twice on one kept-alive connection
    aws.clients().dynamodb.get_item(TableName="usage", Key=KEY)
    aws.clients().dynamodb.get_item(TableName="usage", Key=KEY)
    # WHEN the credentials change (as after a SnapStart restore) and the clients are reset
    environment.setenv("AWS_ACCESS_KEY_ID", "AKIDSECOND")
    aws.reset()
    aws.clients().dynamodb.get_item(TableName="usage", Key=KEY)
    # THEN the next call is signed with the new credentials, on a new connection
    (first, _), (again, _), (after_reset, _) = server.seen
    assert [key for _, key in server.seen] == ["AKIDFIRST", "AKIDFIRST", "AKIDSECOND"]
    assert first == again != after_reset
    # AND the connection taken before was closed by the client
    deadline = time.monotonic() + 5
    while first not in server.closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first in server.closed and after_reset not in server.closed


def test_the_clients_trust_the_ca_bundle_the_sdk_is_given(serve, environment, tmp_path):
    # GIVEN a DynamoDB endpoint whose certificate a private CA signed
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    server = serve(tls)
    environment.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
    environment.setenv("AWS_MAX_ATTEMPTS", "1")
    aws.reset()
    # WHEN the SDK is not told about that CA THEN the certificate is refused
    with pytest.raises(SSLError):
        aws.clients().dynamodb.get_item(TableName="usage", Key=KEY)
    assert server.seen == []
    # WHEN AWS_CA_BUNDLE names it THEN the call goes through
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    environment.setenv("AWS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    aws.reset()
    answer = aws.clients().dynamodb.get_item(TableName="usage", Key=KEY)
    assert "Item" not in answer and len(server.seen) == 1
