"""Anonymous visitors behind the app's one public key: each is its own caller, by visitor token or else by address,
through the local API (the chat function under uvicorn, Mangum functions through their handlers) and behind the
Web Adapter. A bad token is a 401 before any model is called; a claimed X-Forwarded-For changes nobody."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import boto3
import httpx
import jwt
import pytest

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from airelay.visitors import VisitorLimits, mint
from tests.support.aws import moto_server
from tests.support.upstream import FakeUpstream

from .test_caller_identity import chat_app  # noqa: F401 - the chat app under uvicorn, as run.sh starts it

WEB_KEY = "web-key-0123456789abcdef"
SERVER_KEY = "srv-key-0123456789abcdef"
SECRET = "visitor-secret-" + "x" * 49
PARAM = "/airelay/visitor-token-secret"
SPOOFED = {"x-forwarded-for": "6.6.6.6", "forwarded": "for=6.6.6.6", "x-real-ip": "6.6.6.6"}


def helper(*arguments: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m airelay visitor-token ...` with only the given VISITOR_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VISITOR_")}
    command = [sys.executable, "-m", "airelay", "visitor-token", *arguments]
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def good(visitor_id="v-1", **changes) -> str:
    return mint(SECRET, visitor_id, "airelay", **changes)


def claims(**changes) -> dict:
    now = int(time.time())
    return {"sub": "v-1", "aud": "airelay", "iat": now, "exp": now + 600, **changes}


BAD_TOKENS = {
    "forged": lambda: jwt.encode(claims(), "another-secret-" + "y" * 49, algorithm="HS256"),
    "expired": lambda: jwt.encode(claims(iat=int(time.time()) - 900, exp=int(time.time()) - 300), SECRET, "HS256"),
    "wrong-audience": lambda: jwt.encode(claims(aud="another-app"), SECRET, algorithm="HS256"),
    "malformed": lambda: "not.a-token",
}


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


def environment(upstream, **more) -> dict:
    return {
        "CHAT_MODEL": "openai/gpt-4o-mini",
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-test",
        "API_KEYS": f"web={WEB_KEY},srv={SERVER_KEY}",
        "SERVER_KEYS": "srv",
        "VISITOR_TOKEN_SECRET": SECRET,
        **more,
    }


def todays_identities(tmp_path) -> list[str]:
    rows = SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())
    return sorted(row.identity for row in rows)


def chat(api, key=WEB_KEY, token=None, headers=None):
    sent = {"x-api-key": key, **({"x-visitor-token": token} if token else {}), **(headers or {})}
    return httpx.post(f"{api}/api/chat", json={"message": "hi"}, headers=sent, timeout=30)


def own_usage(api, key=WEB_KEY, token=None, headers=None):
    sent = {"x-api-key": key, **({"x-visitor-token": token} if token else {}), **(headers or {})}
    return httpx.get(f"{api}/api/usage", params={"by": "identity"}, headers=sent, timeout=30)


def test_visitors_behind_one_key_are_each_their_own_caller(local_api, upstream, tmp_path):
    # GIVEN the local API with the app's public key, a server's key and visitor tokens on
    api = local_api(**environment(upstream))
    # WHEN two visitors with tokens, one without, and a server call, each with a claimed address
    for token in (good("v-1"), good("v-2"), good("v-1"), None):
        assert chat(api, token=token, headers=SPOOFED).status_code == 200
    assert chat(api, key=SERVER_KEY, headers=SPOOFED).status_code == 200
    # THEN each call is filed under its visitor, the tokenless one under its real address, the server under its key
    assert todays_identities(tmp_path) == [
        "ip:127.0.0.1@web",
        "key:srv",
        "visitor:v-1@web",
        "visitor:v-1@web",
        "visitor:v-2@web",
    ]
    # AND a visitor's usage page shows that visitor's own calls only, through a Mangum function
    report = own_usage(api, token=good("v-1"), headers=SPOOFED).json()
    assert report["budget"]["caller"]["identity"] == "visitor:v-1@web"
    assert [(r["key"], r["calls"]) for r in report["rows"]] == [("visitor:v-1@web", 2)]
    assert own_usage(api, headers=SPOOFED).json()["budget"]["caller"]["identity"] == "ip:127.0.0.1@web"


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_visitor_token_is_a_401_and_calls_no_model(local_api, upstream, tmp_path, make):
    api = local_api(**environment(upstream))
    token = make()
    for response in (chat(api, token=token), own_usage(api, token=token)):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == {
            "code": "invalid_visitor_token",
            "message": "The visitor token is not valid.",
        }
    streamed = httpx.post(
        f"{api}/api/chat/stream", json={"message": "hi"}, headers={"x-api-key": WEB_KEY, "x-visitor-token": token}
    )
    assert streamed.status_code == 401 and "text/event-stream" not in streamed.headers.get("content-type", "")
    assert upstream.requests == [] and todays_identities(tmp_path) == []


def test_a_visitor_token_where_tokens_are_off_is_a_401_not_a_shared_identity(local_api, upstream, tmp_path):
    api = local_api(**environment(upstream, VISITOR_TOKEN_SECRET=""))
    response = chat(api, token=good())
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Visitor tokens are not accepted here."
    assert upstream.requests == [] and todays_identities(tmp_path) == []


def test_a_token_minted_to_outlive_the_servers_limit_is_refused(local_api, upstream):
    api = local_api(**environment(upstream, VISITOR_TOKEN_MAX_TTL_S="600"))
    assert chat(api, token=good(ttl_s=600)).status_code == 200
    assert chat(api, token=good(ttl_s=601)).status_code == 401


def test_the_secret_is_read_from_ssm_by_name(local_api, upstream, tmp_path, monkeypatch):
    # GIVEN the secret in an SSM SecureString, named by VISITOR_TOKEN_SECRET_PARAM, as on AWS
    with moto_server(monkeypatch):
        boto3.client("ssm").put_parameter(Name=PARAM, Value=SECRET, Type="SecureString")
        api = local_api(**environment(upstream, VISITOR_TOKEN_SECRET="", VISITOR_TOKEN_SECRET_PARAM=PARAM))
        # WHEN a visitor sends a token signed with it, and another one signed with something else
        assert chat(api, token=good("v-9")).status_code == 200
        assert chat(api, token=BAD_TOKENS["forged"]()).status_code == 401
    # THEN the first is that visitor
    assert todays_identities(tmp_path) == ["visitor:v-9@web"]


def test_behind_the_web_adapter_the_address_is_api_gateways_not_the_forwarded_for(chat_app, upstream, tmp_path):  # noqa: F811
    # GIVEN the chat app behind the Web Adapter: API Gateway's context names the key and the source address
    api = chat_app(behind_adapter=True, **{**environment(upstream), "API_KEYS": ""})
    context = {"requestId": "r-1", "identity": {"apiKeyId": "k3y", "sourceIp": "2001:db8:7:7:1:2:3:4"}}
    headers = {**SPOOFED, "x-amzn-request-context": json.dumps(context)}
    # WHEN a visitor claims another address, and then another address in the same /64 calls
    assert httpx.post(f"{api}/api/chat", json={"message": "hi"}, headers=headers, timeout=30).status_code == 200
    context["identity"]["sourceIp"] = "2001:db8:7:7:ffff::9"
    headers["x-amzn-request-context"] = json.dumps(context)
    assert httpx.post(f"{api}/api/chat", json={"message": "hi"}, headers=headers, timeout=30).status_code == 200
    # THEN both are the one visitor API Gateway saw, by its /64
    assert todays_identities(tmp_path) == ["ip:2001:db8:7:7::/64@k3y"] * 2


def test_the_command_line_helper_mints_a_token_the_api_accepts(local_api, upstream, tmp_path):
    api = local_api(**environment(upstream))
    done = helper("--visitor", "cli-visitor", "--ttl", "300", "--rpm", "5", VISITOR_TOKEN_SECRET=SECRET)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert jwt.decode(token, SECRET, algorithms=["HS256"], audience="airelay")["limits"] == {"requests_per_minute": 5}
    assert chat(api, token=token).status_code == 200
    assert todays_identities(tmp_path) == ["visitor:cli-visitor@web"]


@pytest.mark.parametrize(
    "arguments,problem",
    [
        (["--visitor", "a b"], "visitor id"),
        (["--visitor", "v", "--ttl", "0"], "--ttl"),
        (["--visitor", "v", "--ttl", "99999"], "--ttl"),
        (["--visitor", "v", "--rpm", "0"], "1 or more"),
    ],
)
def test_the_command_line_helper_refuses_bad_arguments(arguments, problem):
    done = helper(*arguments, VISITOR_TOKEN_SECRET=SECRET)
    assert done.returncode == 2 and problem in done.stderr and not done.stdout


def test_the_command_line_helper_needs_a_secret():
    done = helper("--visitor", "v")
    assert done.returncode == 2 and "VISITOR_TOKEN_SECRET" in done.stderr


def teardown_module():
    get_settings.cache_clear()


def test_a_tokens_own_limits_replace_the_configured_ones_for_that_visitor(local_api, upstream, tmp_path):
    # GIVEN visitors limited to 5 requests a minute, and a token that allows its visitor only 2
    api = local_api(**environment(upstream, VISITOR_REQUESTS_PER_MINUTE="5"))
    for attempt in range(3):  # again if a minute boundary fell between the calls (the limits are per minute)
        minute = datetime.now(UTC).strftime("%H:%M")
        tight = good(f"tight-{attempt}", limits=VisitorLimits(requests_per_minute=2))
        # WHEN that visitor and another each send 3 calls
        tight_answers = [chat(api, token=tight) for _ in range(3)]
        other_answers = [chat(api, token=good(f"other-{attempt}")).status_code for _ in range(3)]
        if datetime.now(UTC).strftime("%H:%M") == minute:
            break
    # THEN the limited visitor's third is refused by its own limit, the other visitor's calls all answered
    assert [r.status_code for r in tight_answers] == [200, 200, 429] and other_answers == [200, 200, 200]
    refused = tight_answers[2].json()["error"]
    assert (refused["rate"], refused["limit"]) == ("requests_per_minute", 2)
    assert todays_identities(tmp_path).count(f"visitor:tight-{attempt}@web") == 2
