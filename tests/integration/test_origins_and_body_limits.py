"""What every function behind the local API promises a browser and a careless client, over HTTP:

- CORS: only an origin listed in ALLOWED_ORIGINS (by default settings.LOCAL_ORIGINS, each of which must work) gets
  Access-Control-Allow-Origin, on preflight and on real answers, echoed exactly; look-alikes get nothing.
- Body size: a body over MAX_BODY_BYTES (for the classify function: room for an IMAGE_MAX_BYTES image in base64; for
  /api/chat/stream, where useChat resends every earlier image, CHAT_BODY_MAX_BYTES), declared or streamed in chunks without a length, is a 413 `payload_too_large` that reaches no model; a body of
  exactly the limit is not.
"""

import base64
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from airelay.settings import LOCAL_ORIGINS, Settings
from local.lambda_bridge import load_module
from local.template import functions
from tests.support.servers import ServerThread
from tests.support.upstream import FakeUpstream

EVENTS = Path(__file__).resolve().parents[2] / "events"
LISTED = LOCAL_ORIGINS.split(",")
MAX_BODY_BYTES = Settings().max_body_bytes
# The classify function takes an IMAGE_MAX_BYTES image as base64 in JSON, so its limit is that plus 64 KiB. The
# default image limit is what Lambda's 6 MB event holds (an upload base64-encoded in it), so the function's own 413
# is seen below that event size; past it the local API answers as API Gateway does (500). The default, as the
# classify app is made once per process with the settings it is imported with.
IMAGE_MAX_BYTES = Settings().image_max_bytes
CLASSIFY_LIMIT = max(MAX_BODY_BYTES, (IMAGE_MAX_BYTES + 2) // 3 * 4 + 64 * 1024)
BASE64_ENCODED = {"/api/image/classify/upload"}  # a binary media type: API Gateway base64-encodes its body
BODY_LIMITS = {
    "/api/image/classify": CLASSIFY_LIMIT,
    "/api/image/classify/upload": CLASSIFY_LIMIT,
    "/api/chat/stream": Settings().chat_body_max_bytes,
}
# The body each route reads (the upload route reads only a multipart body, so only one can grow past its limit).
CONTENT_TYPES = {"/api/image/classify/upload": "multipart/form-data; boundary=b0undary"}
ROUTES = {  # path: the method a browser's preflight asks for
    "/api/chat": "POST",
    "/api/chat/stream": "POST",
    "/api/sentiment": "POST",
    "/api/image/classify": "POST",
    "/api/image/classify/upload": "POST",
    "/api/faq": "POST",
    "/api/usage": "GET",
}
# Real calls of every function, from the events in events/, and the status each gets.
CALLS = {
    "chat_buffered": 200,
    "chat_bad_temperature": 422,
    "chat_stream": 200,
    "sentiment_ko": 200,
    "sentiment_empty": 422,
    "classify_base64": 200,
    "classify_not_image": 422,
    "classify_multipart": 200,
    "faq_question": 200,
    "faq_empty": 422,
    "usage_by_model": 200,
    "usage_bad_days": 422,
}


def look_alikes(origin: str) -> list[str]:
    """Origins a careless matcher (prefix, suffix, substring, case-folding, scheme- or port-blind) would let in."""
    scheme, rest = origin.split("://")
    host, port = rest.rsplit(":", 1)
    other_scheme = "https" if scheme == "http" else "http"
    variants = [
        f"{origin}.evil.test",  # the listed origin as a prefix
        f"{origin}0",  # ... with a longer port
        f"{origin}/",
        f"{origin}@evil.test",
        f"{scheme}://evil.{rest}",  # the listed origin as a suffix
        f"{scheme}://evil{rest}",
        f"{other_scheme}://{rest}",  # other scheme
        f"{scheme}://{host}:{int(port) + 1}",  # other port
        f"{scheme}://{host}",  # no port
        origin.upper(),
        f"{scheme.upper()}://{rest}",
        f"{scheme}://{host.title()}:{port}",
    ]
    return [v for v in dict.fromkeys(variants) if v != origin]


REFUSED = [*look_alikes("http://localhost:5173"), *look_alikes("http://127.0.0.1:8000"), "null", "*", ""]


def call_of(event_name: str) -> dict:
    """The HTTP request an API Gateway event in events/ stands for (method, path, query, content type, body)."""
    event = json.loads((EVENTS / f"{event_name}.json").read_text("utf-8"))
    body = event.get("body") or ""
    content = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"}
    return {
        "method": event["httpMethod"],
        "url": event["path"],
        "params": event.get("queryStringParameters"),
        "headers": headers,
        "content": content or None,
    }


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture(scope="module")
def api(module_local_api, upstream, example_faq_index):
    # The default ALLOWED_ORIGINS and MAX_BODY_BYTES (an empty variable is unset).
    return module_local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        FAQ_INDEX_URL=f"file://{example_faq_index}",
        ALLOWED_ORIGINS="",
        MAX_BODY_BYTES="",
        IMAGE_MAX_BYTES="",
        IDENTITY_DAILY_BUDGET_USD=10,
    )


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api, timeout=30) as client:
        yield client


def test_the_default_allowed_origins_are_the_local_ones():
    assert Settings.from_env({}).allowed_origins == tuple(LISTED) and len(LISTED) == 4


@pytest.mark.parametrize("path", ROUTES)
def test_preflight_allows_exactly_the_listed_origins(client, path):
    # GIVEN the default ALLOWED_ORIGINS WHEN a browser asks before a cross-origin call from each origin
    def preflight(origin: str) -> httpx.Response:
        headers = {
            "origin": origin,
            "access-control-request-method": ROUTES[path],
            "access-control-request-headers": "content-type,x-api-key",
        }
        return client.options(path, headers=headers)

    # THEN every listed origin is allowed, echoed exactly, with the method and headers it asked for
    for origin in LISTED:
        response = preflight(origin)
        assert response.status_code in (200, 204), origin
        assert response.headers.get("access-control-allow-origin") == origin
        assert ROUTES[path] in response.headers["access-control-allow-methods"].upper()
        allowed_headers = response.headers["access-control-allow-headers"].lower()
        assert "content-type" in allowed_headers and "x-api-key" in allowed_headers
    # AND no look-alike gets an Access-Control-Allow-Origin
    allowed = {
        o: r.headers["access-control-allow-origin"]
        for o in REFUSED
        if "access-control-allow-origin" in (r := preflight(o)).headers
    }
    assert allowed == {}


@pytest.mark.parametrize(("event", "status"), CALLS.items())
def test_real_answers_allow_exactly_the_listed_origins(client, event, status):
    # GIVEN a real call of a function (an answer or a refusal of bad input)
    call = call_of(event)

    def answer(origin: str | None) -> httpx.Response:
        headers = call["headers"] | ({"origin": origin} if origin is not None else {})
        response = client.request(**{**call, "headers": headers})
        assert response.status_code == status, (origin, response.text[:300])
        return response

    # WHEN it comes from each listed origin THEN the answer allows that origin, exactly
    for origin in LISTED:
        response = answer(origin)
        assert response.headers.get("access-control-allow-origin") == origin
        assert "origin" in response.headers.get("vary", "").lower()
    # AND from a look-alike, or with no Origin at all, the answer allows none
    allowed = {
        o: r.headers["access-control-allow-origin"]
        for o in REFUSED
        if "access-control-allow-origin" in (r := answer(o)).headers
    }
    assert allowed == {}
    assert "access-control-allow-origin" not in answer(None).headers


def json_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    head, tail = b'{"message": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def in_chunks(body: bytes, size: int = 16 * 1024):
    """The body as a generator: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_payload_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers.get("access-control-allow-origin") == LISTED[0]


@pytest.mark.parametrize("path", ROUTES)
def test_a_declared_body_over_the_limit_is_refused_with_413(client, upstream, path):
    # GIVEN a request whose Content-Length is one byte over the function's limit
    limit, calls_before = BODY_LIMITS.get(path, MAX_BODY_BYTES), len(upstream.requests)
    headers = {"content-type": "application/json", "origin": LISTED[0]}
    # WHEN it is sent THEN it is refused with 413 and no model is called
    response = client.request(ROUTES[path], path, content=json_body(limit + 1), headers=headers)
    assert_payload_too_large(response)
    assert len(upstream.requests) == calls_before
    # AND a body of exactly the limit is not refused for its size
    response = client.request(ROUTES[path], path, content=json_body(limit), headers=headers)
    assert response.status_code != 413


@pytest.fixture(scope="module")
def chat_app_alone(api):
    """The chat function's app under uvicorn with nothing in front, as the Web Adapter serves it on AWS (where API
    Gateway has read the body already; the local API does the same, so only the app itself can be tested here)."""
    chat = next(f for f in functions() if f.web_adapter)
    with ServerThread(load_module(chat).app) as server:
        yield server.url


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(chat_app_alone, path):
    # GIVEN a client that declares a body one byte over the limit and sends only the head of the request
    host, port = urlsplit(chat_app_alone).hostname, urlsplit(chat_app_alone).port
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {BODY_LIMITS.get(path, MAX_BODY_BYTES) + 1}\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(head.encode())
        # WHEN it waits THEN the 413 comes without the body being read (a server waiting for it times this out)
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


@pytest.mark.parametrize("path", [p for p, method in ROUTES.items() if method == "POST" and p not in BASE64_ENCODED])
def test_a_chunked_body_growing_past_the_limit_is_refused_with_413(client, upstream, path):
    # GIVEN a body sent in chunks with no Content-Length, growing past the function's limit
    limit, calls_before = BODY_LIMITS.get(path, MAX_BODY_BYTES), len(upstream.requests)
    headers = {"content-type": CONTENT_TYPES.get(path, "application/json"), "origin": LISTED[0]}
    # WHEN it is sent THEN it is refused with 413 and no model is called
    response = client.post(path, content=in_chunks(json_body(limit + 1)), headers=headers)
    assert "content-length" not in response.request.headers
    assert_payload_too_large(response)
    assert len(upstream.requests) == calls_before
    # AND the same body of exactly the limit is not refused for its size
    response = client.post(path, content=in_chunks(json_body(limit)), headers=headers)
    assert response.status_code != 413


@pytest.mark.upstream_failure  # Lambda's refusal of the event, as API Gateway answers it
def test_an_upload_whose_base64_event_is_over_lambdas_payload_is_api_gateways_500(client, upstream):
    """An upload's body reaches the function base64-encoded (a binary media type): a body at the classify function's
    own limit makes an event over Lambda's 6 MB, which API Gateway answers with its 500 before any function runs."""
    path, calls_before = "/api/image/classify/upload", len(upstream.requests)
    headers = {"content-type": CONTENT_TYPES[path], "origin": LISTED[0]}
    response = client.post(path, content=in_chunks(json_body(BODY_LIMITS[path] + 1)), headers=headers)
    assert response.status_code == 500 and response.json()["error"]["code"] == "gateway_error"
    assert len(upstream.requests) == calls_before
