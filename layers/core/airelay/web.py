"""create_app(*routers): the one way every function builds its ASGI app."""

from __future__ import annotations

import hmac
import json
import logging
import uuid

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import from_json
from starlette.exceptions import HTTPException

from .auth import verifier_for
from .errors import AirelayError, MalformedRequest, NotFound, PayloadTooLarge, Unauthorized
from .logs import configure as configure_logs
from .logs import current_request
from .settings import Settings, get_settings
from .usage import Caller

log = logging.getLogger("airelay")

CORS_HEADERS = "content-type,authorization,x-api-key,x-request-id"
EXPOSED_HEADERS = "x-request-id,retry-after,x-vercel-ai-ui-message-stream"


def create_app(*routers: APIRouter, settings: Settings | None = None) -> FastAPI:
    """Without `settings`, the app follows get_settings() (tests and the local API change them between runs)."""
    configure_logs(settings or get_settings())
    app = FastAPI(title="airelay", docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    app.add_api_route("/api/health", health, methods=["GET"], include_in_schema=False, response_model=None)
    app.add_exception_handler(AirelayError, airelay_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(Guard, settings=settings)
    return app


def validated_json(raw: bytes, parse):
    """A JSON body read by hand and checked by `parse` (e.g. a model's model_validate): 400 when it is not strict
    UTF-8 JSON (NaN, lone surrogates, nesting deeper than pydantic's parser allows: 200 levels), the same 422 as
    FastAPI's own body checks when a field is wrong."""
    try:
        data = from_json(raw, allow_inf_nan=False)
    except ValueError:
        raise MalformedRequest() from None
    try:
        return parse(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None


async def health() -> dict:
    return {"status": "ok"}


def error_response(error: AirelayError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())


async def airelay_error(_: Request, exc: AirelayError) -> JSONResponse:
    return error_response(exc)


async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(MalformedRequest())
    return JSONResponse({"error": {"code": "invalid_input", "message": describe(problems)}}, status_code=422)


def describe(problems: list[dict]) -> str:
    """A short, safe summary of pydantic errors: field paths and messages, never the input values."""
    parts = []
    for problem in problems[:3]:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts)


async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, AirelayError):  # FastAPI wraps errors raised while it reads the body
        return error_response(exc.__cause__)
    if exc.status_code == 404:
        return error_response(NotFound())
    code = "method_not_allowed" if exc.status_code == 405 else "http_error"
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)


def aws_context(scope: dict) -> dict:
    """API Gateway's requestContext: from the Mangum event, or the header the Web Adapter adds."""
    event = scope.get("aws.event")
    if event:
        return event.get("requestContext") or {}
    for name, value in scope.get("headers", ()):
        if name == b"x-amzn-request-context":
            try:
                context = json.loads(value)
            except ValueError:
                return {}
            return context if isinstance(context, dict) else {}
    return {}


def identity_of(scope: dict) -> str:
    """Who is calling, for usage rows and per-identity budgets: the signed-in user, else the API key, else the IP."""
    context = scope.get("state", {}).get("aws_context") or {}
    identity = context.get("identity") or {}
    authorizer = context.get("authorizer") or {}
    claims = authorizer.get("claims") or (authorizer.get("jwt") or {}).get("claims") or {}
    principal = authorizer.get("principalId") or claims.get("sub")
    if principal:
        return f"user:{principal}"
    if identity.get("apiKeyId"):
        return f"key:{identity['apiKeyId']}"
    ip = identity.get("sourceIp") or (scope.get("client") or ("unknown",))[0]
    return f"ip:{ip}"


def caller_of(request: Request, function: str) -> Caller:
    """Who made this request, and through which function: what its usage rows are filed under."""
    return Caller(request.state.request_id, identity_of(request.scope), function)


class Guard:
    """Pure ASGI middleware: request id, CORS allowlist, body-size limit, last-resort error handler."""

    def __init__(self, app, settings: Settings | None) -> None:
        self.app = app
        self.fixed = settings
        self.settings: Settings | None = None

    def follow(self, settings: Settings) -> None:
        self.settings = settings
        self.origins = frozenset(settings.allowed_origins)
        self.any_origin = "*" in self.origins
        self.max_body = settings.max_body_bytes
        self.api_keys = settings.api_key_names  # checked here only where API Gateway does not (locally)
        self.jwt = verifier_for(settings)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.fixed or get_settings()
        if settings is not self.settings:
            self.follow(settings)
        context = aws_context(scope)
        request_id = context.get("requestId") or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["aws_context"] = context
        origin = self.allowed_origin(scope)
        extra = [(b"x-request-id", request_id.encode())]
        if origin:
            extra += [
                (b"access-control-allow-origin", origin.encode()),
                (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
                (b"vary", b"Origin"),
            ]
        if scope["method"] == "OPTIONS":
            await self.preflight(origin, extra, send)
            return
        refused = await self.authenticate(scope, state) if scope["path"] != "/api/health" else None
        if refused:
            await self.reply(send, refused, extra)
            return
        if self.declared_length(scope) > self.max_body:
            await self.reply(send, PayloadTooLarge(), extra)
            return
        current_request.set((request_id, identity_of(scope)))

        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, self.limited(receive), send_with_headers)
        except PayloadTooLarge as exc:
            if not started:
                await self.reply(send, exc, extra)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if not started:
                await self.reply(send, AirelayError(), extra)

    def allowed_origin(self, scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin-1")
                return origin if self.any_origin or origin in self.origins else None
        return None

    async def authenticate(self, scope, state: dict) -> AirelayError | None:
        """Where API Gateway does not check them: API keys (API_KEYS) and sign-in tokens (JWT_ISSUER)."""
        context = state["aws_context"]
        if self.api_keys:
            name = self.key_name(scope)
            if name is None:
                return Unauthorized()
            context = {**context, "identity": {**(context.get("identity") or {}), "apiKeyId": name}}
        if self.jwt:
            try:
                subject = await anyio.to_thread.run_sync(self.jwt.subject, self.bearer(scope))
            except AirelayError as refused:
                return refused
            context = {**context, "authorizer": {"principalId": subject}}
        state["aws_context"] = context
        return None

    @staticmethod
    def bearer(scope) -> str:
        value = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def key_name(self, scope) -> str | None:
        sent = next((v for k, v in scope.get("headers", ()) if k == b"x-api-key"), b"").decode("latin-1")
        found = None
        for key, name in self.api_keys.items():  # compare with every key, in constant time each
            if hmac.compare_digest(sent.encode(), key.encode()):
                found = name
        return found

    @staticmethod
    def declared_length(scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0

    def limited(self, receive):
        seen = 0

        async def receive_limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise PayloadTooLarge()
            return message

        return receive_limited

    @staticmethod
    async def preflight(origin: str | None, extra: list, send) -> None:
        headers = list(extra)
        if origin:
            headers += [
                (b"access-control-allow-methods", b"GET,POST,OPTIONS"),
                (b"access-control-allow-headers", CORS_HEADERS.encode()),
                (b"access-control-max-age", b"600"),
            ]
        await send({"type": "http.response.start", "status": 204 if origin else 403, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def reply(send, error: AirelayError, extra: list) -> None:
        body = json.dumps(error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
        headers += [(k.encode(), v.encode()) for k, v in error.headers().items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
