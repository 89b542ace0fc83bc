"""create_app(*routers): the one way every function builds its ASGI app."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import from_json
from starlette.exceptions import HTTPException

from .errors import AirelayError, MalformedRequest, NotFound, PayloadTooLarge
from .identity import Gate, request_id_of, who_from
from .observability import bind_request
from .observability import configure as configure_observability
from .settings import Settings, get_settings
from .usage import Caller

log = logging.getLogger("airelay")

CORS_HEADERS = "content-type,authorization,x-api-key,x-visitor-token,x-request-id"
EXPOSED_HEADERS = "x-request-id,retry-after,x-vercel-ai-ui-message-stream"


def create_app(*routers: APIRouter, settings: Settings | None = None) -> FastAPI:
    """Without `settings`, the app follows get_settings() (tests and the local API change them between runs)."""
    configure_observability(settings or get_settings())
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


def identity_of(scope: dict) -> str:
    """Who is calling, for usage rows and per-identity budgets (set by the Guard)."""
    return scope["state"]["who"].identity


def is_operator(request: Request) -> bool:
    """An operator may see every caller's usage: an OPERATOR_KEYS key, or a user holding OPERATOR_CLAIM."""
    return request.state.who.operator


def caller_of(request: Request, function: str) -> Caller:
    """Who made this request, and through which function: what its usage rows are filed under."""
    visitor = request.state.who.visitor
    return Caller(request.state.request_id, identity_of(request.scope), function, visitor and visitor.limits)


class Guard:
    """Pure ASGI middleware: request id, who is calling (identity.Gate), CORS allowlist, body-size limit, last-resort
    error handler."""

    def __init__(self, app, settings: Settings | None) -> None:
        self.app = app
        self.fixed = settings
        self.settings: Settings | None = None

    def follow(self, settings: Settings) -> None:
        self.settings = settings
        self.origins = frozenset(settings.allowed_origins)
        self.any_origin = "*" in self.origins
        self.max_body = settings.max_body_bytes
        self.gate = Gate(settings)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.fixed or get_settings()
        if settings is not self.settings:
            self.follow(settings)
        context = self.gate.request_context(scope)
        request_id = request_id_of(context)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["who"] = who_from(context, scope)
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
        if scope["path"] != "/api/health":
            who = await self.gate.check(scope, state["who"])
            if isinstance(who, AirelayError):
                await self.reply(send, who, extra)
                return
            state["who"] = who
        if self.declared_length(scope) > self.max_body:
            await self.reply(send, PayloadTooLarge(), extra)
            return
        bind_request(request_id, state["who"].identity)

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
