"""What every function's app (airelay.web.create_app) does before a route runs, over HTTP against the ASGI app:
CORS by exact origin, the body-size limit, API keys and operator keys, and a safe 500. The same promises through
the local API, per function, are in tests/integration/test_origins_and_body_limits.py."""

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from airelay.settings import Settings
from airelay.web import api_router, create_app, identity_of, is_operator

LISTED = "http://localhost:5173"
LIMIT = 1000
KEY = "k" * 16
OPERATOR_KEY = "o" * 16

router = api_router()


@router.post("/api/echo")
async def echo(request: Request) -> dict:
    body = await request.body()
    return {"bytes": len(body), "identity": identity_of(request.scope), "operator": is_operator(request)}


@router.post("/api/unread")
async def unread() -> dict:
    return {}


class Question(BaseModel):
    text: str
    a: int = 0
    b: int = 0
    c: int = 0


@router.post("/api/parse")
async def parse(body: Question) -> dict:
    return body.model_dump()


@router.get("/api/boom")
async def boom() -> dict:
    raise RuntimeError("a bug")


def client_for(**settings) -> TestClient:
    settings = Settings(**{"allowed_origins": (LISTED,), "max_body_bytes": LIMIT, **settings})
    return TestClient(create_app(router, settings=settings), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client():
    return client_for()


LOOK_ALIKES = [
    f"{LISTED}.evil.test",
    f"{LISTED}0",
    "http://localhost:517",
    "http://evil.localhost:5173",
    "https://localhost:5173",
    "http://localhost:5174",
    "http://localhost",
    LISTED.upper(),
    "null",
    "*",
    "",
]


def test_a_preflight_from_the_listed_origin_is_allowed(client):
    answer = client.options("/api/echo", headers={"origin": LISTED, "access-control-request-method": "POST"})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == LISTED
    assert answer.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert set(answer.headers["access-control-allow-headers"].split(", ")) >= {"content-type", "x-api-key"}
    assert answer.headers["access-control-max-age"] == "600"
    assert answer.headers["vary"].startswith("Origin")


@pytest.mark.parametrize("origin", LOOK_ALIKES)
def test_a_preflight_from_a_look_alike_origin_is_refused(client, origin):
    answer = client.options("/api/echo", headers={"origin": origin, "access-control-request-method": "POST"})
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


def test_a_preflight_without_an_origin_is_refused(client):
    answer = client.options("/api/echo")
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers


def test_a_real_answer_to_the_listed_origin_carries_cors_headers(client):
    answer = client.post("/api/echo", content=b"{}", headers={"origin": LISTED})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == LISTED
    assert "x-request-id" in answer.headers["access-control-expose-headers"].split(",")
    assert answer.headers["vary"] == "Origin"


@pytest.mark.parametrize("origin", LOOK_ALIKES)
def test_a_real_answer_to_a_look_alike_origin_carries_none(client, origin):
    answer = client.post("/api/echo", content=b"{}", headers={"origin": origin})
    assert answer.status_code == 200  # the browser, not the server, withholds it from the page
    assert "access-control-allow-origin" not in answer.headers


def test_any_origin_is_allowed_only_when_star_is_listed():
    answer = client_for(allowed_origins=("*",)).post("/api/echo", content=b"{}", headers={"origin": "https://x.test"})
    assert answer.headers["access-control-allow-origin"] == "https://x.test"


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_a_declared_body_over_the_limit_is_a_413_and_one_at_the_limit_is_read(client, size):
    answer = client.post("/api/echo", content=b"x" * size, headers={"origin": LISTED})
    if size > LIMIT:
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "payload_too_large"
        assert answer.headers["access-control-allow-origin"] == LISTED
    else:
        assert answer.status_code == 200
        assert answer.json()["bytes"] == LIMIT


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_a_declared_body_over_the_limit_is_refused_before_any_route_runs(client, size):
    answer = client.post("/api/unread", content=b"x" * size)  # the route never reads it
    assert answer.status_code == (413 if size > LIMIT else 200)


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_a_chunked_body_growing_past_the_limit_is_a_413(client, size):
    chunks = [b"x" * 300] * (size // 300) + [b"x" * (size % 300)]
    answer = client.post("/api/echo", content=iter(chunks))
    assert answer.status_code == (413 if size > LIMIT else 200)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"text": "hi"}', 200, None),
        (b'{"text": NaN}', 400, "malformed_request"),
        (b'{"text": "\\ud800"}', 400, "malformed_request"),
        (b"not json", 400, "malformed_request"),
        (b'{"text": 5}', 422, "invalid_input"),
        (b"{}", 422, "invalid_input"),
    ],
)
def test_a_body_is_strict_json_then_validated(client, body, status, code):
    answer = client.post("/api/parse", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    if code:
        assert answer.json()["error"]["code"] == code
        assert "NaN" not in answer.json()["error"]["message"]
    else:
        assert answer.json() == {"text": "hi", "a": 0, "b": 0, "c": 0}


def test_a_422_names_at_most_three_fields_by_path_without_their_values(client):
    body = b'{"text": 1, "a": "x1", "b": "x2", "c": "x3"}'
    answer = client.post("/api/parse", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert [part.split(":")[0] for part in message.split("; ")] == ["text", "a", "b"]
    assert "x1" not in message and "body" not in message


def test_an_unknown_path_is_a_404_and_a_wrong_method_a_405(client):
    missing = client.get("/api/nothing-here")
    wrong = client.get("/api/echo")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


def test_without_api_keys_the_caller_is_their_address(client):
    assert client.post("/api/echo", content=b"").json() == {"bytes": 0, "identity": "ip:testclient", "operator": False}


@pytest.mark.parametrize("sent", [None, "", "x" * 16, KEY[:-1], KEY + "k"])
def test_with_api_keys_a_call_without_a_known_key_is_a_401(sent):
    headers = {"origin": LISTED} | ({"x-api-key": sent} if sent is not None else {})
    answer = client_for(api_keys=(f"app={KEY}",)).post("/api/echo", content=b"", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.headers["access-control-allow-origin"] == LISTED


def test_a_known_server_key_names_the_caller_and_only_an_operator_key_makes_an_operator():
    client = client_for(api_keys=(f"app={KEY}", f"ops={OPERATOR_KEY}"), server_keys=("app",), operator_keys=("ops",))
    app = client.post("/api/echo", content=b"", headers={"x-api-key": KEY}).json()
    ops = client.post("/api/echo", content=b"", headers={"x-api-key": OPERATOR_KEY}).json()
    assert (app["identity"], app["operator"]) == ("key:app", False)
    assert (ops["identity"], ops["operator"]) == ("key:ops", True)


def test_health_needs_no_key():
    assert client_for(api_keys=(f"app={KEY}",)).get("/api/health").status_code == 200


@pytest.mark.upstream_failure  # a bug in a route stands for the failure here
def test_an_unhandled_error_is_a_short_500_with_the_request_id_and_cors(client):
    answer = client.get("/api/boom", headers={"origin": LISTED})
    assert answer.status_code == 500
    assert "a bug" not in answer.text
    assert answer.headers["x-request-id"]
    assert answer.headers["access-control-allow-origin"] == LISTED
