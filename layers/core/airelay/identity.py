"""Who is calling: what the front (API Gateway, the Web Adapter, the local API) says, API keys and sign-in tokens
where API Gateway does not check them, visitor tokens, and whether the caller is an operator."""

from __future__ import annotations

import hmac
import json
import re
import uuid
from dataclasses import dataclass, replace

import anyio

from . import aws
from .auth import holds_claim, verifier_for
from .errors import AirelayError, ProviderUnavailable, Unauthorized
from .settings import Settings, get_settings
from .visitors import BadVisitorToken, Visitor, VisitorTokens, address_group

# The local API (local/server.py) serves the chat app itself and sets this ASGI scope extension: it stands in for the
# Web Adapter and, like it, replaces any x-amzn-request-context a client sent with its own.
LOCAL_WEB_ADAPTER = "airelay.web_adapter"
BEARER_KEY_MISSING = "A valid API key is required, sent as 'Authorization: Bearer <key>'."
SERVER_KEY_REQUIRED = "Sign-in is on: this API takes only server keys. Apps call /api with a sign-in token."
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._=-]{1,128}")
VISITOR_TOKEN_HEADER = b"x-visitor-token"

if get_settings().visitor_token_secret_param:  # read through Powertools Parameters: its SSM client is made at INIT
    aws.prepare("ssm")


@dataclass(frozen=True, slots=True)
class Who:
    source_ip: str
    api_key_id: str = ""
    user: str = ""  # the `sub` of a verified sign-in token
    operator: bool = False  # may see every caller's usage
    server_key: bool = False  # the key is held by a trusted backend (SERVER_KEYS, OPERATOR_KEYS), not a browser
    visitor: Visitor | None = None  # from a valid visitor token

    @property
    def identity(self) -> str:
        """For usage rows and limits: the signed-in user; else a server's key; else a visitor behind the app's public
        key, known by its visitor token's id or else by its address: `visitor:<id>@<key>`, `ip:<address>@<key>`."""
        if self.user:
            return f"user:{self.user}"
        if self.api_key_id and self.server_key:
            return f"key:{self.api_key_id}"
        behind = f"@{self.api_key_id}" if self.api_key_id else ""
        if self.visitor:
            return f"visitor:{self.visitor.id}{behind}"
        return f"ip:{address_group(self.source_ip)}{behind}"


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def request_id_of(context: dict) -> str:
    """The front's request id if it is a plain one (it goes into a response header), else a fresh one."""
    given = text(context.get("requestId"))
    return given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def who_from(context: dict, scope: dict) -> Who:
    """The caller as the front saw it. An `authorizer` in the context is not read: the stack's one authorizer
    (KeyAuthorizerFunction) only hands API Gateway the request's API key and vouches for no caller (the Gate checks
    sign-in tokens itself)."""
    identity = context.get("identity")
    identity = identity if isinstance(identity, dict) else {}
    address = text(identity.get("sourceIp")) or (scope.get("client") or ("unknown",))[0]
    return Who(source_ip=address, api_key_id=text(identity.get("apiKeyId")))


def header(scope: dict, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", ()) if key == name), b"")


class Gate:
    """With `bearer_keys` (the OpenAI-compatible app), the API key is the bearer token, as OpenAI's SDKs send it;
    sign-in tokens do not apply there (the bearer is the key), so while sign-in is on that app serves only server
    keys: a public key's visitors would be anonymous there."""

    def __init__(self, settings: Settings, bearer_keys: bool = False) -> None:
        self.behind_web_adapter = settings.behind_web_adapter
        self.api_keys = settings.api_key_names  # checked here only where API Gateway does not (locally)
        self.bearer_keys = bearer_keys
        self.jwt = None if bearer_keys else verifier_for(settings)
        self.servers_only = bearer_keys and bool(settings.jwt_issuer)
        self.operator_keys = frozenset(settings.operator_keys)
        self.server_keys = self.operator_keys | frozenset(settings.server_keys)
        self.operator_claim = settings.operator_claim_rule
        self.visitor_secret = settings.visitor_token_secret
        self.visitor_secret_param = settings.visitor_token_secret_param
        self.visitor_audience = settings.visitor_token_audience
        self.visitor_max_ttl_s = settings.visitor_token_max_ttl_s
        self.visitor_tokens: VisitorTokens | None = None

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
        """Where API Gateway does not check them: API keys (API_KEYS) and sign-in tokens (JWT_ISSUER); a visitor token
        if one was sent (a bad one is refused, never ignored). Then whether the caller is an operator: an
        OPERATOR_KEYS key, or a signed-in user holding OPERATOR_CLAIM."""
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
        if self.servers_only and who.api_key_id not in self.server_keys:
            return Unauthorized(SERVER_KEY_REQUIRED)
        visitor = None
        token = header(scope, VISITOR_TOKEN_HEADER).decode("latin-1").strip()
        if token:
            try:
                visitor = await self.visitor_of(token)
            except AirelayError as refused:
                return refused
        operator = who.api_key_id in self.operator_keys or holds_claim(claims, self.operator_claim)
        server_key = who.api_key_id in self.server_keys
        return replace(who, user=claims.get("sub", ""), operator=operator, server_key=server_key, visitor=visitor)

    async def visitor_of(self, token: str) -> Visitor:
        """The visitor a token names: checked against VISITOR_TOKEN_SECRET, or the SSM parameter that holds it."""
        secret = self.visitor_secret
        if not secret and self.visitor_secret_param:
            secret = await anyio.to_thread.run_sync(self.read_secret)
        if not secret:
            raise BadVisitorToken("Visitor tokens are not accepted here.")
        tokens = self.visitor_tokens
        if tokens is None or tokens.secret != secret:  # the first, or the SSM parameter changed
            tokens = self.visitor_tokens = VisitorTokens(secret, self.visitor_audience, self.visitor_max_ttl_s)
        return tokens.visitor(token)

    def read_secret(self) -> str:
        try:
            return aws.parameter(self.visitor_secret_param)
        except Exception:
            raise ProviderUnavailable("Visitor tokens cannot be checked right now.") from None

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
