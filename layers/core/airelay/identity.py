"""Who is calling: what the front (API Gateway, the Web Adapter, the local API) says, API keys and sign-in tokens
where API Gateway does not check them, and whether the caller is an operator."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass, replace

import anyio

from .auth import holds_claim, verifier_for
from .errors import AirelayError, Unauthorized
from .settings import Settings

# The local API (local/server.py) serves the chat app itself and sets this ASGI scope extension: it stands in for the
# Web Adapter and, like it, replaces any x-amzn-request-context a client sent with its own.
LOCAL_WEB_ADAPTER = "airelay.web_adapter"
BEARER_KEY_MISSING = "A valid API key is required, sent as 'Authorization: Bearer <key>'."
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._=-]{1,128}")


@dataclass(frozen=True, slots=True)
class Who:
    source_ip: str
    api_key_id: str = ""
    user: str = ""  # the `sub` of a verified sign-in token
    operator: bool = False  # may see every caller's usage

    @property
    def identity(self) -> str:
        """For usage rows and per-identity budgets: the signed-in user, else the API key, else the address."""
        if self.user:
            return f"user:{self.user}"
        if self.api_key_id:
            return f"key:{self.api_key_id}"
        return f"ip:{self.source_ip}"


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def request_id_of(context: dict) -> str:
    """The front's request id if it is a plain one (it goes into a response header), else a fresh one."""
    given = text(context.get("requestId"))
    return given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def who_from(context: dict, scope: dict) -> Who:
    """The caller as the front saw it. An `authorizer` in the context is not read: there is none on AWS (the Gate
    checks sign-in tokens itself), so one there was not put by API Gateway."""
    identity = context.get("identity")
    identity = identity if isinstance(identity, dict) else {}
    address = text(identity.get("sourceIp")) or (scope.get("client") or ("unknown",))[0]
    return Who(source_ip=address, api_key_id=text(identity.get("apiKeyId")))


def header(scope: dict, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", ()) if key == name), b"")


class Gate:
    """With `bearer_keys` (the OpenAI-compatible app), the API key is the bearer token, as OpenAI's SDKs send it;
    sign-in tokens do not apply there (the bearer is the key)."""

    def __init__(self, settings: Settings, bearer_keys: bool = False) -> None:
        self.behind_web_adapter = settings.behind_web_adapter
        self.api_keys = settings.api_key_names  # checked here only where API Gateway does not (locally)
        self.bearer_keys = bearer_keys
        self.jwt = None if bearer_keys else verifier_for(settings)
        self.operator_keys = frozenset(settings.operator_keys)
        self.operator_claim = settings.operator_claim_rule

    def request_context(self, scope: dict) -> dict:
        """API Gateway's requestContext: from the Mangum event, or from the x-amzn-request-context header the Web
        Adapter sets, read only where the adapter (or the local API standing in for it) put it there. The adapter
        replaces any value a client sent: aws-lambda-web-adapter 0.9.1, src/lib.rs, Adapter::fetch_response calls
        `req_headers.insert("x-amzn-request-context", <the event's requestContext>)`, and http's HeaderMap::insert
        drops every earlier value of the name. Anywhere else a client could have written it. Never raises."""
        event = scope.get("aws.event")
        context = None
        if event:
            context = event.get("requestContext")
        elif self.behind_web_adapter or (scope.get("extensions") or {}).get(LOCAL_WEB_ADAPTER):
            try:
                context = json.loads(header(scope, b"x-amzn-request-context"))
            except (ValueError, RecursionError):
                pass
        return context if isinstance(context, dict) else {}

    async def check(self, scope: dict, who: Who) -> Who | AirelayError:
        """Where API Gateway does not check them: API keys (API_KEYS) and sign-in tokens (JWT_ISSUER). Then whether
        the caller is an operator: an OPERATOR_KEYS key, or a signed-in user holding OPERATOR_CLAIM."""
        if self.api_keys:
            name = self.key_name(scope)
            if name is None:
                return Unauthorized(BEARER_KEY_MISSING if self.bearer_keys else None)
            who = replace(who, api_key_id=name)
        claims = {}
        if self.jwt:
            try:
                claims = await anyio.to_thread.run_sync(self.jwt.claims, self.bearer(scope))
            except AirelayError as refused:
                return refused
        operator = who.api_key_id in self.operator_keys or holds_claim(claims, self.operator_claim)
        return replace(who, user=claims.get("sub", ""), operator=operator)

    @staticmethod
    def bearer(scope: dict) -> str:
        scheme, _, token = header(scope, b"authorization").decode("latin-1").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def key_name(self, scope: dict) -> str | None:
        sent = self.bearer(scope).encode("latin-1") if self.bearer_keys else header(scope, b"x-api-key")
        found = None
        for key, name in self.api_keys.items():  # compare with every key, in constant time each
            if hmac.compare_digest(sent, key.encode()):
                found = name
        return found
