"""The local API: serves every route in template.yaml on one port, as API Gateway and Lambda would.

As API Gateway does, it reads each request's whole body before any function sees it: at most 10 MB (413 at once
when Content-Length says more, or as soon as more arrives), within BODY_READ_TIMEOUT_S (then 408, and the
connection is closed). Web Adapter functions (Handler: run.sh) are ASGI apps served directly, as the adapter's
uvicorn does, so they stream; like the adapter, the local API gives them API Gateway's request context in
x-amzn-request-context. Mangum functions are invoked through their real Lambda handler with a REST API proxy
event, one invocation at a time per function, like a warm container. A client's own x-amzn-request-context never
reaches a function.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from pathlib import Path
from urllib.parse import parse_qs

from .docs import docs_app, is_docs_path
from .lambda_bridge import Container, layer_settings, load_module, request_context, response_parts, rest_event
from .preflight import preflights
from .template import ROOT, TEMPLATE, Function, Route, functions, load_template, shared_environment

DEMO = ROOT / "web" / "demo"
CONTEXT_HEADER = b"x-amzn-request-context"
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload quota: larger requests get 413


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ClientGone(Exception):
    pass


class LocalApi:
    def __init__(self, template: Path = TEMPLATE, static_dir: Path = DEMO) -> None:
        declared = load_template(template)
        self.functions = functions(declared)
        for name, value in shared_environment(self.functions).items():  # each function's literal variables
            os.environ.setdefault(name, value)  # the shell's and .env's values win, as with `sam local --env-vars`
        self.preflights = preflights(declared, os.environ)  # OPTIONS: API Gateway's mock, no function runs
        self.routes: list[tuple[Route, Function]] = [(r, f) for f in self.functions for r in f.routes]
        self.static_dir = static_dir
        self.containers: dict[str, Container] = {}
        self.docs = docs_app()

    def warm(self) -> None:
        """Import each Web Adapter app now, as the adapter starts uvicorn during the Lambda init phase."""
        for function in self.functions:
            if function.web_adapter:
                load_module(function)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "OPTIONS" and scope["path"] in self.preflights:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            status, answer = self.preflights[scope["path"]].answer(headers)
            await send({"type": "http.response.start", "status": status, "headers": encoded(answer)})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["method"] in ("GET", "HEAD") and is_docs_path(scope["path"]):
            await self.docs(scope, receive, send)
            return
        found = self.find(scope["method"], scope["path"])
        if found is None:
            await self.static(scope, send)
            return
        settings = layer_settings()
        try:
            body = await read_body(scope, receive, settings.body_read_timeout_s)
        except BodyRefused as refused:
            error = {"error": {"code": refused.code, "message": refused.message}}
            await send_json(send, refused.status, error, [(b"connection", b"close"), *cors(settings)])
            return
        except ClientGone:
            return
        route, function, params = found
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != CONTEXT_HEADER]}
        if function.web_adapter:
            await load_module(function).app(as_web_adapter(scope, route), replay(body, receive), send)
        else:
            await self.invoke(function, route, params, scope, body, send)

    def find(self, method: str, path: str) -> tuple[Route, Function, dict] | None:
        for route, function in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, function, params
        return None

    async def invoke(self, function: Function, route: Route, params: dict, scope, body: bytes, send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        # as API Gateway: Host is the API's own name, never the client's, and the port is X-Forwarded-Port
        server_host, server_port = scope.get("server") or ("127.0.0.1", 80)
        host = "localhost" if ":" in server_host else server_host  # an IPv6 literal: Mangum splits Host at ":"
        headers.update({"host": host, "x-forwarded-port": str(server_port), "x-forwarded-proto": "http"})
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)  # as API Gateway
        client = scope.get("client") or ("127.0.0.1", 0)
        event = rest_event(scope["method"], scope["path"], route.path, headers, query, body, client[0], params)
        container = self.containers.get(function.name) or self.containers.setdefault(function.name, Container(function))
        try:
            response = await asyncio.wrap_future(container.invoke(event))
        except Exception:
            error = {"error": {"code": "function_failed", "message": "The function failed."}}
            await send_json(send, 502, error, cors(layer_settings()))
            return
        status, response_headers, response_body = response_parts(response)
        response_headers.append((b"content-length", str(len(response_body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": response_body})

    def demo_file(self, path: str) -> Path | None:
        """The demo page's file at `path`, if there is one; None for anything else (a name no file system takes too)."""
        try:
            file = (self.static_dir / (path.lstrip("/") or "index.html")).resolve()
            if file.is_dir():
                file = file / "index.html"
            return file if file.is_file() and self.static_dir.resolve() in file.parents else None
        except (ValueError, OSError):  # a NUL byte, a name longer than NAME_MAX
            return None

    async def static(self, scope, send) -> None:
        path = scope["path"]
        if scope["method"] in ("GET", "HEAD") and not path.startswith("/api/"):
            file = self.demo_file(path)
            if file is not None:
                content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                data = file.read_bytes()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", content_type.encode()),
                            (b"content-length", str(len(data)).encode()),
                            (b"cache-control", b"no-cache"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": data})
                return
        error = {"error": {"code": "not_found", "message": "No such route."}}
        await send_json(send, 404, error, cors(layer_settings()))


def encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def read_body(scope, receive, timeout_s: float, limit: int = API_GATEWAY_MAX_BODY) -> bytes:
    """The whole request body, as API Gateway reads it before invoking anything; BodyRefused (413 or 408) else."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
    if declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, "payload_too_large", "The request body is too large.")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, "payload_too_large", "The request body is too large.")
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyRefused(408, "request_timeout", "The request body did not arrive in time.") from None


def cors(settings) -> list[tuple[bytes, bytes]]:
    """The CORS headers template.yaml's GatewayResponses give API Gateway's own errors: a gateway response names one
    origin, the first of AllowedOrigins, whatever the request's (so a page on another origin cannot read them)."""
    first = settings.allowed_origins[0] if settings.allowed_origins else ""
    return [(b"access-control-allow-origin", first.encode("latin-1")), (b"vary", b"Origin")] if first else []


def replay(body: bytes, receive):
    """The ASGI receive of a request whose body was read already: the body once, then the client's own events."""
    replayed = False

    async def receive_again():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


def as_web_adapter(scope, route: Route) -> dict:
    """The request as the Web Adapter hands it to its app: with the event's requestContext in x-amzn-request-context,
    and the scope extension that tells the app this header was set by the local API (airelay.identity)."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    client = scope.get("client") or ("127.0.0.1", 0)
    context = json.dumps(request_context(scope["method"], scope["path"], route.path, headers, client[0])).encode()
    extensions = {**(scope.get("extensions") or {}), "airelay.web_adapter": True}
    return {**scope, "headers": [*scope["headers"], (CONTEXT_HEADER, context)], "extensions": extensions}


async def send_json(send, status: int, payload: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create() -> LocalApi:
    api = LocalApi()
    api.warm()
    return api
