"""Who the caller is, and the request id, come from the front (API Gateway, the Web Adapter, the local API), never
from what a client writes: a request-context header, X-Forwarded-For or an authorizer of its own making are ignored,
and a malformed context never breaks an answer."""

import json
import re
from datetime import UTC, datetime

import httpx
import pytest

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import load_module
from tests.support import state
from tests.support.servers import ServerThread
from tests.support.state import forget_meter
from tests.support.upstream import FakeUpstream

ALICE = "alice-key-0123456789"
ORIGIN = "http://localhost:5173"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._=-]{1,128}")
SPOOFED = {
    "requestId": "spoofed-request-id",
    "authorizer": {"principalId": "fresh1", "claims": {"sub": "fresh1"}},
    "identity": {"apiKeyId": "someone-else", "sourceIp": "6.6.6.6"},
}
MALFORMED_CONTEXTS = {
    "identity-not-an-object": b'{"identity": "x"}',
    "request-id-a-number": b'{"requestId": 5}',
    "request-id-with-crlf": json.dumps({"requestId": "abc\r\nset-cookie: stolen=1"}).encode(),
    "request-id-too-long": json.dumps({"requestId": "a" * 5000}).encode(),
    "not-json": b"{not json",
    "a-json-list": b"[1, 2]",
    "a-json-string": b'"context"',
    "null": b"null",
    "authorizer-not-an-object": b'{"authorizer": "x"}',
    "source-ip-a-list": b'{"identity": {"sourceIp": ["x"], "apiKeyId": {"a": 1}}}',
    "deeply-nested": b"[" * 10_000,
}


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


def paid_model(upstream) -> dict:
    return {"CHAT_MODEL": "openai/gpt-4o-mini", "OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "sk-test"}


def todays_rows(tmp_path):
    return SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())


def chat(api, headers=None):
    return httpx.post(
        f"{api}/api/chat", json={"message": "hi"}, headers={"origin": ORIGIN, **(headers or {})}, timeout=30
    )


@pytest.fixture
def chat_app(monkeypatch, tmp_path):
    """The chat function's ASGI app under real uvicorn on its own, as run.sh starts it: `behind_adapter` sets the
    environment the Web Adapter's template gives it (the adapter itself cannot run here)."""
    running = []

    def start(behind_adapter: bool, **environment) -> str:
        for name in ("API_KEYS", "JWT_ISSUER", "AWS_LAMBDA_EXEC_WRAPPER"):
            monkeypatch.delenv(name, raising=False)
        if behind_adapter:
            monkeypatch.setenv("AWS_LAMBDA_EXEC_WRAPPER", "/opt/bootstrap")
        monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()
        state.forget_chat_models()
        forget_meter()
        server = ServerThread(load_module(find_function("ChatFunction")).app).__enter__()
        running.append(server)
        return server.url

    yield start
    for server in running:
        server.__exit__(None, None, None)
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()


def test_a_spoofed_request_context_changes_neither_the_identity_nor_the_request_id(local_api, upstream, tmp_path):
    # GIVEN the local API with API keys
    api = local_api(API_KEYS=f"alice={ALICE}", **paid_model(upstream))
    # WHEN alice sends a chat with a request context of her own making
    response = chat(api, {"x-api-key": ALICE, "x-amzn-request-context": json.dumps(SPOOFED)})
    # THEN she is served and metered as herself (her real address behind her key), under the local API's request id
    assert response.status_code == 200
    [row] = todays_rows(tmp_path)
    assert row.identity == "ip:127.0.0.1@alice"
    assert response.headers["x-request-id"] != SPOOFED["requestId"]
    assert row.request_id == response.headers["x-request-id"]


def test_a_spoofed_forwarded_for_does_not_change_the_identity(local_api, upstream, tmp_path):
    # GIVEN the local API without keys: callers are known by their address
    api = local_api(**paid_model(upstream))
    spoofed = {"x-forwarded-for": "6.6.6.6", "forwarded": "for=6.6.6.6"}
    # WHEN a caller claims another address, to the chat function and to a Mangum function
    assert chat(api, spoofed).status_code == 200
    report = httpx.get(f"{api}/api/usage", headers=spoofed, timeout=30).json()
    # THEN both know it by the address it really connects from
    [row] = todays_rows(tmp_path)
    assert row.identity == "ip:127.0.0.1"
    assert report["budget"]["caller"]["identity"] == "ip:127.0.0.1"


@pytest.mark.parametrize("context", MALFORMED_CONTEXTS.values(), ids=MALFORMED_CONTEXTS.keys())
def test_a_malformed_request_context_sent_to_the_local_api_gets_a_normal_answer(local_api, upstream, context):
    api = local_api(**paid_model(upstream))
    for response in (
        chat(api, {"x-amzn-request-context": context}),
        httpx.get(f"{api}/api/usage", headers={"origin": ORIGIN, "x-amzn-request-context": context}, timeout=30),
    ):
        assert response.status_code == 200, response.text
        assert response.json() and response.headers["access-control-allow-origin"] == ORIGIN
        assert SAFE_REQUEST_ID.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize("context", MALFORMED_CONTEXTS.values(), ids=MALFORMED_CONTEXTS.keys())
def test_a_malformed_context_from_the_adapter_gets_a_normal_answer(chat_app, upstream, context, tmp_path):
    # GIVEN the chat app behind the Web Adapter, which trusts the context header
    api = chat_app(behind_adapter=True, **paid_model(upstream))
    # WHEN the header is malformed THEN the answer is a normal one, with CORS, a safe request id and a sane identity
    response = chat(api, {"x-amzn-request-context": context})
    assert response.status_code == 200, response.text
    assert response.json()["response"] and response.headers["access-control-allow-origin"] == ORIGIN
    assert SAFE_REQUEST_ID.fullmatch(response.headers["x-request-id"])
    [row] = todays_rows(tmp_path)
    assert row.identity == "ip:127.0.0.1" and row.request_id == response.headers["x-request-id"]


def test_behind_the_adapter_its_context_names_the_caller_but_an_authorizer_is_ignored_without_sign_in(
    chat_app, upstream, tmp_path
):
    # GIVEN the chat app behind the Web Adapter, sign-in off
    api = chat_app(behind_adapter=True, **paid_model(upstream))
    # WHEN the adapter's context carries an API key id, a request id and an authorizer
    response = chat(api, {"x-amzn-request-context": json.dumps({**SPOOFED, "requestId": "c6af9ac6-7b61-11e6-9a41"})})
    # THEN the key id, address and request id are used, the authorizer is not (there is none on AWS without sign-in)
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "c6af9ac6-7b61-11e6-9a41"
    [row] = todays_rows(tmp_path)
    assert row.identity == "ip:6.6.6.6@someone-else" and row.request_id == "c6af9ac6-7b61-11e6-9a41"


def test_without_the_adapter_the_context_header_is_not_read(chat_app, upstream, tmp_path):
    # GIVEN the chat app served on its own, with nothing in front that sets the context header
    api = chat_app(behind_adapter=False, **paid_model(upstream))
    # WHEN a client sends one
    response = chat(api, {"x-amzn-request-context": json.dumps(SPOOFED)})
    # THEN it is not read: the caller is its socket address, the request id a fresh one
    assert response.status_code == 200
    assert response.headers["x-request-id"] != SPOOFED["requestId"]
    [row] = todays_rows(tmp_path)
    assert row.identity == "ip:127.0.0.1"
