"""The pure ASGI middlewares of every function's app, outermost first (create_app adds them):

- Cors: Starlette's CORSMiddleware for ALLOWED_ORIGINS (each origin exactly; `*` echoes any origin, as the API's
  preflight mock does);
- RequestGate: the request id and who is calling (from API Gateway's request context), the log context; API keys and
  sign-in tokens where API Gateway does not check them (identity.Gate): 401; MAX_BODY_BYTES (CHAT_BODY_MAX_BYTES on
  /api/chat/stream), declared or streamed: 413; and the last-resort answer when something fails unhandled. One layer, so an answer's every message passes
  one wrapped `send`.

Each follows get_settings() unless the app was made with fixed settings (tests and the local API change the
environment between runs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache

from starlette.middleware.cors import CORSMiddleware

from .errors import AirelayError, PayloadTooLarge, own_body
from .identity import Gate, request_id_of, who_from
from .observability import bind_request, log_failure
from .settings import Settings, get_settings

log = logging.getLogger("airelay")

ALLOWED_HEADERS = ("content-type", "authorization", "x-api-key", "x-visitor-token", "x-request-id")
EXPOSED_HEADERS = ("x-request-id", "retry-after", "x-vercel-ai-ui-message-stream")


@lru_cache(maxsize=8)
def gate_for(settings: Settings, bearer_keys: bool) -> Gate:
    return Gate(settings, bearer_keys=bearer_keys)


class Middleware:
    def __init__(
        self,
        app,
        settings: Settings | None = None,
        error_body: Callable[[AirelayError], dict] = own_body,
        bearer_keys: bool = False,
    ) -> None:
        self.app = app
        self.fixed = settings
        self.error_body = error_body
        self.bearer_keys = bearer_keys

    def settings(self) -> Settings:
        return self.fixed or get_settings()


class Cors(Middleware):
    def __init__(self, app, **options) -> None:
        super().__init__(app, **options)
        self.by_origins: dict[tuple[str, ...], CORSMiddleware] = {}

    async def __call__(self, scope, receive, send) -> None:
        origins = self.settings().allowed_origins
        cors = self.by_origins.get(origins)
        if cors is None:
            cors = self.by_origins.setdefault(origins, self.make(origins))
        await cors(scope, receive, send)

    def make(self, origins: tuple[str, ...]) -> CORSMiddleware:
        any_origin = "*" in origins
        return CORSMiddleware(
            self.app,
            allow_origins=() if any_origin else origins,
            allow_origin_regex=".*" if any_origin else None,  # echoes the origin, never a literal `*`
            allow_methods=("GET", "POST", "OPTIONS"),
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )


class RequestGate(Middleware):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings()
        gate = gate_for(settings, self.bearer_keys)
        context = gate.request_context(scope)
        request_id = request_id_of(context)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["who"] = who_from(context, scope)
        bind_request(request_id, state["who"].identity)
        send, started = with_header(send, b"x-request-id", request_id.encode())
        try:
            await self.admit(scope, receive, send, gate, body_limit(scope["path"], settings))
        except PayloadTooLarge as exc:
            if not started():
                await reply(send, exc, self.error_body)
        except Exception as exc:
            log_failure(log, "unhandled error", exc)
            if not started():
                await reply(send, AirelayError(), self.error_body)

    async def admit(self, scope, receive, send, gate: Gate, limit: int) -> None:
        state = scope["state"]
        if scope["path"] != "/api/health":
            who = await gate.check(scope, state["who"])
            if isinstance(who, AirelayError):
                await reply(send, who, self.error_body)
                return
            if who.identity != state["who"].identity:
                bind_request(state["request_id"], who.identity)
            state["who"] = who
        if declared_length(scope) > limit:
            await reply(send, too_large(limit), self.error_body)
            return
        await self.app(scope, limited(receive, limit), send)


def body_limit(path: str, settings: Settings) -> int:
    """CHAT_BODY_MAX_BYTES on /api/chat/stream, where useChat resends every earlier file (left unread there), else
    MAX_BODY_BYTES."""
    return settings.chat_body_max_bytes if path == "/api/chat/stream" else settings.max_body_bytes


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this server's limit of {limit} bytes; images and files sent inline "
        "(data: URLs) count towards it."
    )


def with_header(send, name: bytes | None = None, value: bytes = b""):
    """`send` that adds one header to the answer's start, and a function telling whether the answer has started."""
    started = False

    async def sending(message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            if name:
                message["headers"] = [*message.get("headers", ()), (name, value)]
        await send(message)

    return sending, lambda: started


def declared_length(scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def limited(receive, limit: int):
    seen = 0

    async def receive_limited():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return receive_limited


async def reply(send, error: AirelayError, error_body: Callable[[AirelayError], dict]) -> None:
    body = json.dumps(error_body(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in error.headers().items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
