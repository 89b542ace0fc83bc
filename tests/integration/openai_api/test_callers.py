"""Who a /v1 caller is, seen through the real `openai` SDK: a server's key (SERVER_KEYS) is the key's own caller; behind
the app's public key each visitor is its own, by visitor token or else by address. Their limits hold on /v1 as on
/api, refused before the model is called, in OpenAI's error shape with Retry-After."""

import json
from datetime import UTC, datetime

import httpx
import openai
import pytest

from airelay.visitors import mint
from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.integration.test_caller_identity import chat_app  # noqa: F401 - an app under uvicorn, as run.sh starts it

SERVER_KEY = "srv-key-0123456789abcdef"
SECRET = "visitor-secret-" + "x" * 49
SPOOFED = {"x-forwarded-for": "6.6.6.6", "forwarded": "for=6.6.6.6", "x-real-ip": "6.6.6.6"}
VISITORS = {"API_KEYS": f"sdk={KEY},srv={SERVER_KEY}", "SERVER_KEYS": "srv", "VISITOR_TOKEN_SECRET": SECRET}


def sdk(base_url: str, key: str = KEY, token: str | None = None) -> openai.OpenAI:
    headers = {**SPOOFED, **({"x-visitor-token": token} if token else {})}
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, default_headers=headers)


def identities(tmp_path, count: int) -> list[str]:
    return sorted(row.identity for row in rows(tmp_path, count))


def within_one_minute(attempt):
    """Runs attempt(n) again (up to three times) if a minute boundary fell inside it: the limits are per minute."""
    for n in range(3):
        minute = datetime.now(UTC).strftime("%H:%M")
        outcome = attempt(n)
        if datetime.now(UTC).strftime("%H:%M") == minute:
            return outcome
    raise AssertionError("three minute boundaries in a row")


def test_a_server_key_is_its_own_caller_and_a_public_key_one_caller_per_visitor(start, tmp_path):
    # GIVEN /v1 with the app's public key, a server's key and visitor tokens on
    base = start(**VISITORS)
    # WHEN the server, two visitors with tokens and one without call, each claiming another address
    sdk(base, SERVER_KEY).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for token in (mint(SECRET, "v-1", "airelay"), mint(SECRET, "v-2", "airelay"), None):
        sdk(base, token=token).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    sdk(base, token=mint(SECRET, "v-1", "airelay")).embeddings.create(model="use-multilingual", input=["hi"])
    # THEN the server's call is filed under its key, each visitor's under itself behind the public key
    assert identities(tmp_path, 5) == [
        "ip:127.0.0.1@sdk",
        "key:srv",
        "visitor:v-1@sdk",
        "visitor:v-1@sdk",
        "visitor:v-2@sdk",
    ]


def test_a_bad_visitor_token_on_v1_is_an_authentication_error(start, upstream, tmp_path):
    base = start(**VISITORS)
    forged = mint("another-secret-" + "y" * 49, "v-1", "airelay")
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk(base, token=forged).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert refused.value.code == "invalid_visitor_token" and refused.value.type == "authentication_error"
    assert upstream.requests == [] and rows(tmp_path, 0) == []


def test_visitor_limits_refuse_on_v1_in_openais_shape_and_leave_the_server_key_alone(start, upstream, tmp_path):
    # GIVEN visitors limited to 2 requests a minute, the server's key not limited per minute
    base = start(**VISITORS, VISITOR_REQUESTS_PER_MINUTE="2")

    def attempt(n):
        visitor = sdk(base, token=mint(SECRET, f"v-{n}", "airelay"))
        answered = [visitor.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES) for _ in range(2)]
        with pytest.raises(openai.RateLimitError) as buffered:
            visitor.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as streamed:
            visitor.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        with pytest.raises(openai.RateLimitError) as embedded:
            visitor.embeddings.create(model="use-multilingual", input=["hi"])
        server = [sdk(base, SERVER_KEY).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)]
        return answered + server, [buffered.value, streamed.value, embedded.value]

    # WHEN a visitor sends a third chat (buffered, then streamed) and an embedding within the minute, and the server one
    answered, refusals = within_one_minute(attempt)
    # THEN the visitor's third and later calls are 429s in OpenAI's shape, naming the limit, with Retry-After
    for refused in refusals:
        body = refused.response.json()["error"]
        assert set(body) == {"message", "type", "param", "code"}
        assert (body["code"], body["type"], body["param"]) == ("rate_limit_exceeded", "requests", None)
        assert "requests per minute" in body["message"] and "limit 2" in body["message"]
        assert 1 <= int(refused.response.headers["retry-after"]) <= 60
        assert refused.response.headers["content-type"].startswith("application/json")
    # AND the server's call and the visitor's first two were answered; only those reached the model
    assert [a.choices[0].message.content for a in answered] == [upstream.REPLY_TEXT] * 3
    assert len(upstream.requests) == 3


def test_tokens_per_minute_on_v1_name_the_tokens_limit(start, upstream):
    # GIVEN 50 tokens a minute, and an SDK that retries twice by default
    base = start(**VISITORS, VISITOR_TOKENS_PER_MINUTE="50")
    sent = []
    http = openai.DefaultHttpxClient(event_hooks={"request": [sent.append]})
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=2, http_client=http, default_headers=SPOOFED)
    # WHEN a request's worst case alone is more than that (max_tokens 100)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    # THEN it is refused in OpenAI's shape, naming the limit and what to lower
    body = refused.value.response.json()["error"]
    assert (body["code"], body["type"]) == ("rate_limit_exceeded", "tokens")
    assert "tokens per minute" in body["message"] and "limit 50" in body["message"] and "max_tokens" in body["message"]
    # AND no minute can take it, so the SDK is told not to retry, and does not
    assert refused.value.response.headers.get("x-should-retry") == "false"
    assert "retry-after" not in refused.value.response.headers
    assert len(sent) == 1 and upstream.requests == []


def test_behind_the_web_adapter_v1_callers_are_api_gateways_key_and_address(chat_app, upstream, tmp_path):  # noqa: F811
    # GIVEN the OpenAI function behind the Web Adapter: API Gateway's context names the key id and the address
    base = chat_app(
        behind_adapter=True,
        function="OpenAIFunction",
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        SERVER_KEYS="srvid",
    )

    def call(key_id: str, address: str) -> int:
        context = {"requestId": "r-1", "identity": {"apiKeyId": key_id, "sourceIp": address}}
        headers = {**SPOOFED, "authorization": "Bearer any", "x-amzn-request-context": json.dumps(context)}
        body = {"model": "gpt-4o-mini", "messages": MESSAGES}
        return httpx.post(f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30).status_code

    # WHEN the server's key calls, and two addresses in one /64 behind the public key
    assert [call("srvid", "198.51.100.9"), call("webid", "2001:db8:7:7::1"), call("webid", "2001:db8:7:7::2")] == [
        200
    ] * 3
    # THEN the server is its key, the visitor its /64 behind the public key
    assert identities(tmp_path, 3) == ["ip:2001:db8:7:7::/64@webid"] * 2 + ["key:srvid"]


def test_with_sign_in_on_v1_serves_server_keys_only(start, upstream, tmp_path):
    # GIVEN sign-in on (JWT_ISSUER): /api asks every app user for a sign-in token, which /v1 cannot take
    base = start(**VISITORS, JWT_ISSUER="https://issuer.example", JWT_AUDIENCE="airelay")
    # WHEN the app's public key calls /v1, with or without a visitor token
    for token in (None, mint(SECRET, "v-1", "airelay")):
        with pytest.raises(openai.AuthenticationError) as refused:
            sdk(base, token=token).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        # THEN it is refused before any work: no anonymous way around the sign-in
        assert refused.value.status_code == 401 and "server keys" in refused.value.message
    assert upstream.requests == [] and rows(tmp_path, 0) == []
    # AND a server's key is served as before
    sdk(base, SERVER_KEY).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert identities(tmp_path, 1) == ["key:srv"]
