"""Visitor tokens and addresses: who an anonymous visitor is, and every way a token can be bad."""

import base64
import json
import time
from decimal import Decimal

import jwt
import pytest

from airelay.visitors import BadVisitorToken, Visitor, VisitorLimits, VisitorTokens, address_group, mint

SECRET = "s" * 64
OTHER_SECRET = "o" * 32
TOKENS = VisitorTokens(SECRET, "airelay", max_ttl_s=3600)


def encoded(claims: dict, secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def fresh(**changes) -> dict:
    now = int(time.time())
    return {"sub": "v-1", "aud": "airelay", "iat": now, "exp": now + 900, **changes}


def test_a_minted_token_names_its_visitor_and_limits():
    limits = VisitorLimits(requests_per_minute=10, tokens_per_minute=2000, usd_per_day=Decimal("0.05"))
    token = mint(SECRET, "v-1", "airelay", ttl_s=900, limits=limits)
    assert TOKENS.visitor(token) == Visitor("v-1", limits)


def test_a_token_without_limits_leaves_the_defaults():
    assert TOKENS.visitor(mint(SECRET, "v.2_x", "airelay")) == Visitor("v.2_x", VisitorLimits())


def unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def tampered() -> str:
    head, _, signature = mint(SECRET, "v-1", "airelay").split(".")
    body = base64.urlsafe_b64encode(json.dumps(fresh(sub="someone-else")).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{signature}"


BAD_TOKENS = {
    "forged (another secret)": lambda: encoded(fresh(), OTHER_SECRET),
    "tampered claims": tampered,
    "alg none": lambda: unsigned(fresh()),
    "another algorithm": lambda: encoded(fresh(), SECRET, "HS512"),
    "expired": lambda: encoded(fresh(iat=int(time.time()) - 1000, exp=int(time.time()) - 100)),
    "wrong audience": lambda: encoded(fresh(aud="another-app")),
    "no audience": lambda: encoded({k: v for k, v in fresh().items() if k != "aud"}),
    "no expiry": lambda: encoded({k: v for k, v in fresh().items() if k != "exp"}),
    "no issued-at": lambda: encoded({k: v for k, v in fresh().items() if k != "iat"}),
    "no visitor id": lambda: encoded({k: v for k, v in fresh().items() if k != "sub"}),
    "lives too long": lambda: encoded(fresh(exp=int(time.time()) + 86_400)),
    "not yet issued": lambda: encoded(fresh(iat=int(time.time()) + 3600, exp=int(time.time()) + 3700)),
    "visitor id with spaces": lambda: encoded(fresh(sub="a b")),
    "visitor id too long": lambda: encoded(fresh(sub="v" * 65)),
    "visitor id a number": lambda: encoded(fresh(sub=7)),
    "visitor id with @": lambda: encoded(fresh(sub="a@key")),
    "limits not an object": lambda: encoded(fresh(limits=[1])),
    "unknown limit": lambda: encoded(fresh(limits={"burst": 5})),
    "negative limit": lambda: encoded(fresh(limits={"requests_per_minute": -1})),
    "zero rpm (would mean unlimited)": lambda: encoded(fresh(limits={"tokens_per_minute": 0})),
    "fractional rpm": lambda: encoded(fresh(limits={"requests_per_minute": 1.5})),
    "rpm true": lambda: encoded(fresh(limits={"requests_per_minute": True})),
    "dollars not a number": lambda: encoded(fresh(limits={"usd_per_day": "lots"})),
    "dollars infinite": lambda: encoded(fresh(limits={"usd_per_day": "Infinity"})),
    "not a token": lambda: "hello",
    "three dots of junk": lambda: "a.b.c",
    "empty parts": lambda: "..",
    "huge": lambda: "a" * 10_000,
}


@pytest.mark.parametrize("make", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_refused_with_a_401(make):
    with pytest.raises(BadVisitorToken) as refused:
        TOKENS.visitor(make())
    assert refused.value.status == 401 and refused.value.code == "invalid_visitor_token"


@pytest.mark.parametrize(
    "visitor_id,secret,limits",
    [("a b", SECRET, None), ("v", "short", None), ("v", SECRET, VisitorLimits(requests_per_minute=-1))],
)
def test_mint_refuses_what_no_server_would_accept(visitor_id, secret, limits):
    with pytest.raises(ValueError):
        mint(secret, visitor_id, "airelay", limits=limits)


@pytest.mark.parametrize(
    "address,group",
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2:0:0:0:ffff", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.9", "198.51.100.9"),
        ("testclient", "testclient"),
        ("x" * 65, "unknown"),
    ],
)
def test_a_visitor_without_a_token_is_its_address_with_ipv6_grouped_by_64(address, group):
    assert address_group(address) == group


def test_every_address_in_one_ipv6_64_is_one_visitor_and_the_next_64_another():
    assert address_group("2001:db8:0:7::1") == address_group("2001:db8:0:7:ffff:ffff:ffff:ffff")
    assert address_group("2001:db8:0:7::1") != address_group("2001:db8:0:8::1")


def test_a_good_token_is_checked_once_and_remembered_only_until_it_expires(monkeypatch):
    import airelay.visitors as visitors

    tokens = VisitorTokens(SECRET, "airelay", max_ttl_s=3600)
    decoded = []
    decode = visitors.jwt.decode
    monkeypatch.setattr(visitors.jwt, "decode", lambda *a, **k: decoded.append(1) or decode(*a, **k))
    token = mint(SECRET, "v-1", "airelay", ttl_s=120)
    # WHEN the same token comes three times, and a forged one after it
    assert [tokens.visitor(token).id for _ in range(3)] == ["v-1"] * 3
    forged = mint("another-secret-" + "y" * 49, "v-1", "airelay", ttl_s=120)
    with pytest.raises(BadVisitorToken):
        tokens.visitor(forged)
    # THEN the good one was checked once, the forged one checked and refused
    assert len(decoded) == 2
    # AND once it has expired (past the leeway) it is not remembered: it is checked again (and PyJWT refuses an
    # expired token, see test_a_bad_token_is_refused_with_a_401)
    later = time.time() + 120 + visitors.LEEWAY_S + 1
    monkeypatch.setattr(visitors.time, "time", lambda: later)
    tokens.visitor(token)
    assert len(decoded) == 3


def test_a_secret_changed_in_ssm_is_the_one_tokens_are_checked_with_from_the_next_request(monkeypatch):
    import anyio

    from airelay.identity import Gate
    from airelay.settings import Settings

    # GIVEN a gate that reads the secret from an SSM parameter, which holds SECRET
    gate = Gate(Settings(visitor_token_secret_param="/airelay/visitor-token-secret"))
    in_ssm = [SECRET]
    monkeypatch.setattr(gate, "read_secret", lambda: in_ssm[0])
    before, after = mint(SECRET, "v-1", "airelay"), mint("n" * 64, "v-2", "airelay")
    assert [anyio.run(gate.visitor_of, before).id for _ in range(2)] == ["v-1"] * 2
    # WHEN the parameter is changed
    in_ssm[0] = "n" * 64
    # THEN a token signed with the old secret is refused, one signed with the new one accepted
    with pytest.raises(BadVisitorToken):
        anyio.run(gate.visitor_of, before)
    assert anyio.run(gate.visitor_of, after).id == "v-2"
