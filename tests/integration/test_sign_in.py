"""Optional sign-in: bearer JWTs from an issuer (a fake one on 127.0.0.1), each user with their own identity."""

import json
import time
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from airelay.usage.sqlite import SqliteLedger
from tests.support.servers import ServerThread
from tests.support.upstream import FakeUpstream

ISSUER = "https://auth.example.test/"
AUDIENCE = "airelay-web"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer():
    """An identity provider's JWKS endpoint, and a way to sign tokens with its key (or another)."""
    key = rsa_key()
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="k1", use="sig", alg="RS256")
    app = Starlette(routes=[Route("/jwks.json", lambda _: JSONResponse({"keys": [public]}))])
    with ServerThread(app) as server:

        def sign(signing_key=key, **claims):
            body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "exp": int(time.time()) + 300, **claims}
            body = {name: value for name, value in body.items() if value is not None}
            return jwt.encode(body, signing_key, algorithm="RS256", headers={"kid": "k1"})

        yield f"{server.url}/jwks.json", sign


@pytest.fixture
def api(local_api, issuer, tmp_path):
    jwks_url, _ = issuer
    with FakeUpstream() as upstream:
        yield local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            JWT_ISSUER=ISSUER,
            JWT_AUDIENCE=AUDIENCE,
            JWT_JWKS_URL=jwks_url,
            OPERATOR_CLAIM="cognito:groups=airelay-operators",
            USAGE_DB_PATH=tmp_path / "usage.sqlite3",
        )


def chat(api, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{api}/api/chat", json={"message": "hi"}, headers=headers, timeout=10)


def usage(api, token):
    response = httpx.get(
        f"{api}/api/usage", params={"by": "identity"}, headers={"authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200
    return response.json()


def test_a_user_sees_only_their_own_usage_and_an_operator_everyones(api, issuer):
    _, sign = issuer
    # GIVEN two users who chatted
    assert chat(api, sign(sub="user-42")).status_code == 200
    assert chat(api, sign(sub="user-7")).status_code == 200
    # WHEN a user, a user of another group and a member of the operators' group ask for usage by caller
    mine = usage(api, sign(sub="user-42"))
    staff = usage(api, sign(sub="user-7", **{"cognito:groups": ["staff"]}))
    everyone = usage(api, sign(sub="admin-1", **{"cognito:groups": ["staff", "airelay-operators"]}))
    # THEN each user sees only their own row and budget; the operator sees every caller and the global budget
    assert (mine["scope"], [r["key"] for r in mine["rows"]], mine["total"]["calls"]) == ("caller", ["user:user-42"], 1)
    assert [r["key"] for r in staff["rows"]] == ["user:user-7"] and staff["scope"] == "caller"
    assert sorted(r["key"] for r in everyone["rows"]) == ["user:user-42", "user:user-7"]
    assert everyone["scope"] == "all" and everyone["total"]["calls"] == 2
    assert everyone["budget"]["limit_usd"] == 10 and mine["budget"]["limit_usd"] == 1


def test_a_signed_in_user_is_served_and_metered_as_themself(api, issuer, tmp_path):
    _, sign = issuer
    assert chat(api, sign()).status_code == 200
    [row] = SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())
    assert row.identity == "user:user-42"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda sign: None,
        lambda sign: "not.a.jwt",
        lambda sign: sign(signing_key=rsa_key()),
        lambda sign: sign(exp=int(time.time()) - 10),
        lambda sign: sign(aud="another-app"),
        lambda sign: sign(iss="https://evil.example.test/"),
        lambda sign: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
            "a-shared-secret-that-is-32-bytes-long!",
            algorithm="HS256",
            headers={"kid": "k1"},
        ),
        lambda sign: sign(sub=""),
        lambda sign: sign(sub="   "),
        lambda sign: sign(sub=42),
        lambda sign: sign(sub=None),
    ],
    ids=[
        "missing",
        "garbage",
        "other-key",
        "expired",
        "wrong-audience",
        "wrong-issuer",
        "hs256-forgery",
        "empty-sub",
        "blank-sub",
        "numeric-sub",
        "no-sub",
    ],
)
def test_requests_without_a_valid_token_are_refused(api, issuer, make_token):
    _, sign = issuer
    response = chat(api, make_token(sign))
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "unauthorized", "message": "A valid bearer token is required."}


def test_preflight_needs_no_token(api):
    response = httpx.options(
        f"{api}/api/chat", headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"}
    )
    assert response.status_code == 204
    assert "authorization" in response.headers["access-control-allow-headers"]


@pytest.mark.upstream_failure  # the issuer's JWKS cannot be fetched: 503
def test_an_unreachable_issuer_is_a_503(local_api, issuer):
    _, sign = issuer
    api = local_api(JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE, JWT_JWKS_URL="http://127.0.0.1:9/jwks.json")
    response = chat(api, sign())
    assert response.status_code == 503 and response.json()["error"]["code"] == "provider_unavailable"
