"""Sign-in tokens (airelay.auth) against an issuer's JWKS served on 127.0.0.1:

- a token whose `alg` does not fit the type of the key its `kid` names is a 401, never a 500;
- a key the issuer no longer publishes is refused once the JWKS cache (5 minutes, docs/configuration.md) ran out;
- an issuer answering its JWKS URL with something that is no key set is the sign-in service failing: a 503, as an
  unreachable one is (tests/integration/test_sign_in.py), not a 500.
"""

import json
import time
from types import SimpleNamespace

import jwt
import jwt.jwk_set_cache
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from airelay.auth import JwtVerifier
from airelay.errors import Unauthorized
from airelay.settings import Settings
from airelay.web import api_router, create_app, identity_of
from tests.support.servers import ServerThread

ISSUER = "https://auth.example.test/"
AUDIENCE = "airelay-web"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())

router = api_router()


@router.post("/api/echo")
async def echo(request: Request) -> dict:
    return {"identity": identity_of(request.scope)}


def jwk(algorithm, key, kid: str, alg: str) -> dict:
    public = json.loads(algorithm.to_jwk(key.public_key()))
    public.update(kid=kid, use="sig", alg=alg)
    return public


RSA_JWK = jwk(jwt.algorithms.RSAAlgorithm, RSA_KEY, "r1", "RS256")
EC_JWK = jwk(jwt.algorithms.ECAlgorithm, EC_KEY, "e1", "ES256")


@pytest.fixture
def issuer():
    """The issuer's endpoints: /jwks.json publishes `published["keys"]` (change it to rotate keys), /html and /empty
    answer 200 with something that is no usable key set."""
    published = {"keys": [RSA_JWK, EC_JWK]}
    app = Starlette(
        routes=[
            Route("/jwks.json", lambda _: JSONResponse(published)),
            Route("/html", lambda _: HTMLResponse("<html><body>Sign in</body></html>")),
            Route("/empty", lambda _: JSONResponse({"keys": []})),
        ]
    )
    with ServerThread(app) as server:
        yield server.url, published


def token(signing_key, alg: str, kid: str, **claims) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, signing_key, algorithm=alg, headers={"kid": kid})


def client_for(jwks_url: str) -> TestClient:
    settings = Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_url=jwks_url)
    return TestClient(create_app(router, settings=settings), raise_server_exceptions=False)


def test_a_good_token_is_served(issuer):
    url, _ = issuer
    answer = client_for(f"{url}/jwks.json").post(
        "/api/echo", headers={"authorization": f"Bearer {token(RSA_KEY, 'RS256', 'r1')}"}
    )
    assert answer.status_code == 200 and answer.json() == {"identity": "user:user-42"}


MISMATCHED = {
    # any caller can make these: an algorithm of the allowed list, signed with a key of their own, naming a real kid
    "ES256 naming the RSA key": lambda: token(ec.generate_private_key(ec.SECP256R1()), "ES256", "r1"),
    "RS256 naming the EC key": lambda: token(
        rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "e1"
    ),
    "ES384 naming the P-256 key": lambda: token(ec.generate_private_key(ec.SECP384R1()), "ES384", "e1"),
}


@pytest.mark.parametrize("make", MISMATCHED.values(), ids=MISMATCHED.keys())
def test_a_token_whose_alg_does_not_fit_the_type_of_its_key_is_a_401_not_a_500(issuer, make):
    url, _ = issuer
    # GIVEN sign-in on WHEN a caller sends a token whose header names a published kid with an alg for another key type
    answer = client_for(f"{url}/jwks.json").post("/api/echo", headers={"authorization": f"Bearer {make()}"})
    # THEN it is refused as any bad token is (PyJWT raises TypeError / InvalidKeyError there, which auth.py lets out)
    assert answer.status_code == 401
    assert answer.json()["error"] == {"code": "unauthorized", "message": "A valid bearer token is required."}


def test_a_key_the_issuer_no_longer_publishes_is_refused_once_the_cached_key_set_has_run_out(issuer, monkeypatch):
    url, published = issuer
    verifier = JwtVerifier(ISSUER, AUDIENCE, f"{url}/jwks.json")
    old = token(RSA_KEY, "RS256", "r1")
    # GIVEN a token signed with the issuer's key r1, accepted
    assert verifier.claims(old)["sub"] == "user-42"
    # WHEN the issuer drops r1 (rotated out, e.g. after it leaked) and the 5 minutes the key set is cached for pass
    published["keys"] = [EC_JWK]
    later = time.monotonic() + 301
    monkeypatch.setattr(jwt.jwk_set_cache, "time", SimpleNamespace(monotonic=lambda: later, time=time.time))
    # THEN a token naming r1 is refused: the key set read again no longer has it (PyJWKClient(cache_keys=True) keeps
    # every key it has looked up in an lru_cache that never expires, so r1 stays trusted for the container's life)
    with pytest.raises(Unauthorized):
        verifier.claims(token(RSA_KEY, "RS256", "r1", sub="user-43"))


@pytest.mark.upstream_failure  # the issuer answers its JWKS URL with no usable key set: a 5xx is expected, a 503
@pytest.mark.parametrize("path", ["/html", "/empty"])
def test_an_issuer_answering_with_no_usable_key_set_is_a_503_like_an_unreachable_one(issuer, path):
    url, _ = issuer
    answer = client_for(f"{url}{path}").post(
        "/api/echo", headers={"authorization": f"Bearer {token(RSA_KEY, 'RS256', 'r1')}"}
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "provider_unavailable"
