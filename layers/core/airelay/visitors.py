"""Anonymous visitors: visitor tokens the app's own backend mints (HS256 JWTs signed with a shared secret), and the
address a visitor without one is known by (IPv6 grouped by /64, the block one home or phone gets)."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import jwt

from .errors import Unauthorized

ALGORITHM = "HS256"
VISITOR_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_SECRET_BYTES = 32  # RFC 7518 section 3.2: an HS256 key at least as long as the hash
LIMIT_NAMES = ("requests_per_minute", "tokens_per_minute", "usd_per_day")
LEEWAY_S = 30  # clock skew allowed between the backend that mints and the function that checks


class BadVisitorToken(Unauthorized):
    code = "invalid_visitor_token"
    message = "The visitor token is not valid."


@dataclass(frozen=True, slots=True)
class VisitorLimits:
    """Limits the app's backend gave this visitor, applied where lower than the configured ones (limits.LimitBook);
    None leaves the configured one."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    usd_per_day: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Visitor:
    id: str
    limits: VisitorLimits = VisitorLimits()


def mint(
    secret: str, visitor_id: str, audience: str, ttl_s: int = 900, limits: VisitorLimits | None = None, now=None
) -> str:
    """A visitor token for `visitor_id`, valid for `ttl_s` seconds. What the app's backend runs (or `python -m airelay
    visitor-token`); the secret never leaves the backend."""
    if not VISITOR_ID.fullmatch(visitor_id):
        raise ValueError("a visitor id is 1-64 letters, digits, '.', '_' or '-'")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"the visitor token secret must be at least {MIN_SECRET_BYTES} bytes")
    issued = int(time.time() if now is None else now)
    claims = {"sub": visitor_id, "aud": audience, "iat": issued, "exp": issued + ttl_s}
    given = {name: getattr(limits, name) for name in LIMIT_NAMES if limits and getattr(limits, name) is not None}
    if any(value < (0 if name == "usd_per_day" else 1) for name, value in given.items()):
        raise ValueError("per-minute limits are 1 or more, usd_per_day 0 or more")
    if given:
        claims["limits"] = {name: str(value) if isinstance(value, Decimal) else value for name, value in given.items()}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


class VisitorTokens:
    """Checks visitor tokens: signature (HS256 only), audience, expiry, a lifetime of at most `max_ttl_s`. A token
    found good is remembered until it expires: a visitor sends the same one with every call, and checking it again
    would only repeat the work (a fifth of what a refused call costs)."""

    MAX_KNOWN = 10_000

    def __init__(self, secret: str, audience: str, max_ttl_s: int) -> None:
        self.secret = secret
        self.audience = audience
        self.max_ttl_s = max_ttl_s
        self.known: dict[str, tuple[Visitor, int]] = {}

    def visitor(self, token: str) -> Visitor:
        known = self.known.get(token)
        if known and time.time() <= known[1] + LEEWAY_S:
            return known[0]
        visitor, expires = self.check(token)
        if len(self.known) >= self.MAX_KNOWN:
            self.known.clear()
        self.known[token] = (visitor, expires)
        return visitor

    def check(self, token: str) -> tuple[Visitor, int]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                leeway=LEEWAY_S,
                options={"require": ["sub", "aud", "iat", "exp"]},
            )
        except jwt.InvalidTokenError:
            raise BadVisitorToken() from None
        sub, issued, expires = claims["sub"], claims["iat"], claims["exp"]
        if not isinstance(sub, str) or not VISITOR_ID.fullmatch(sub):
            raise BadVisitorToken()
        if not isinstance(issued, int) or not isinstance(expires, int) or expires - issued > self.max_ttl_s:
            raise BadVisitorToken("The visitor token lives longer than this server allows.")
        return Visitor(sub, limits_of(claims.get("limits"))), expires


def limits_of(given: object) -> VisitorLimits:
    if given is None:
        return VisitorLimits()
    if not isinstance(given, dict) or not set(given) <= set(LIMIT_NAMES):
        raise BadVisitorToken()
    rpm, tpm, usd = (given.get(name) for name in LIMIT_NAMES)
    for count in (rpm, tpm):  # at least 1: a per-minute limit of 0 would mean none
        if count is not None and (type(count) is not int or count < 1):
            raise BadVisitorToken()
    try:
        dollars = None if usd is None else Decimal(str(usd))
    except ArithmeticError:
        raise BadVisitorToken() from None
    if dollars is not None and (not dollars.is_finite() or dollars < 0):
        raise BadVisitorToken()
    return VisitorLimits(rpm, tpm, dollars)


@lru_cache(maxsize=4096)  # asked for more than once per request (log context, usage rows)
def address_group(address: str) -> str:
    """The address a visitor is known by: IPv4 as it is, IPv6 as its /64 (one subscriber's block: a visitor can pick
    any address in it), an IPv4-mapped IPv6 address as the IPv4 one."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address if len(address) <= 64 and address.isprintable() else "unknown"
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
