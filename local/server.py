"""The local API: serves every route in template.yaml on one port, as API Gateway and Lambda would.

As API Gateway does, it reads each request's whole body before any function sees it: at most 10 MB (413 at once
when Content-Length says more, or as soon as more arrives), within BODY_READ_TIMEOUT_S (then 408, and the
connection is closed). With API_KEYS set (the usage plan's keys), a route that needs a key runs its authorizer
function first, and a request without a key of API_KEYS runs nothing else. API Gateway's own errors take the shape
of the template's GatewayResponses (local/gateway.py). Web Adapter functions (Handler: run.sh) are ASGI apps served
directly, as the adapter's uvicorn does, so they stream; like the adapter, the local API gives them API Gateway's
request context in x-amzn-request-context. Mangum functions are invoked through their real Lambda handler with a
REST API proxy event, one invocation at a time per function, like a warm container, held to Lambda's 6 MB event,
the function's Timeout (then 502) and the route's integration timeout (then 504). A client's own
x-amzn-request-context never reaches a function.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs

from . import gateway
from .docs import docs_app, is_docs_path
from .gateway import Gateway, GatewayError
from .lambda_bridge import (
    LAMBDA_MAX_PAYLOAD,
    Container,
    StillRunning,
    layer_settings,
    load_module,
    payload_size,
    request_context,
    response_parts,
    rest_event,
)
from .preflight import preflights
from .template import ROOT, TEMPLATE, Function, Route, api_properties, functions, load_template, shared_environment

DEMO = ROOT / "web" / "demo"
CONTEXT_HEADER = b"x-amzn-request-context"
API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload quota: larger requests get 413
FITS_ANY_EVENT = 4 * 1024 * 1024  # a body this large, even base64-encoded, leaves an event under LAMBDA_MAX_PAYLOAD


class ClientGone(Exception):
    pass


class LocalApi:
    def __init__(self, template: Path = TEMPLATE, static_dir: Path = DEMO) -> None:
        declared = load_template(template)
        self.functions = functions(declared)
        self.by_name = {function.name: function for function in self.functions}
        self.gateway = Gateway(api_properties(declared))
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
        except GatewayError as error:
            await self.refuse(send, error, [(b"connection", b"close")])
            return
        except ClientGone:
            return
        route, function, params = found
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != CONTEXT_HEADER]}
        try:
            if route.api_key_required and settings.api_key_names:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                event = partial(self.event, route, params, scope, b"")
                await self.gateway.check_key(route, headers, event, settings.api_key_names, self.call)
            if len(body) > FITS_ANY_EVENT and payload_size(self.event(route, params, scope, body)) > LAMBDA_MAX_PAYLOAD:
                raise GatewayError(*gateway.INVOCATION_REFUSED)  # the Lambda API refuses the invocation
            if function.web_adapter:
                await load_module(function).app(as_web_adapter(scope, route), replay(body, receive), send)
            else:
                await self.invoke(function, route, self.event(route, params, scope, body), send)
        except GatewayError as error:
            await self.refuse(send, error)

    def find(self, method: str, path: str) -> tuple[Route, Function, dict] | None:
        for route, function in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, function, params
        return None

    def event(self, route: Route, params: dict, scope, body: bytes) -> dict:
        """The REST API proxy event of the request, as API Gateway sends it to the route's function."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        # as API Gateway: Host is the API's own name, never the client's, and the port is X-Forwarded-Port
        server_host, server_port = scope.get("server") or ("127.0.0.1", 80)
        host = "localhost" if ":" in server_host else server_host  # an IPv6 literal: Mangum splits Host at ":"
        headers.update({"host": host, "x-forwarded-port": str(server_port), "x-forwarded-proto": "http"})
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)  # as API Gateway
        client = scope.get("client") or ("127.0.0.1", 0)
        return rest_event(scope["method"], scope["path"], route.path, headers, query, body, client[0], params)

    async def call(self, name: str, event: dict, timeout_s: float | None = None) -> dict:
        """Invokes the function `name` with `event`; StillRunning when it runs past timeout_s (its Timeout if None),
        and then its container takes no more invocations, as Lambda resets an environment whose function timed out."""
        function = self.by_name[name]
        container = self.containers.get(name) or self.containers.setdefault(name, Container(function))
        try:
            return await container.call(event, function.timeout_s if timeout_s is None else timeout_s)
        except StillRunning:
            if self.containers.get(name) is container:
                del self.containers[name]
            container.retire()
            raise

    async def invoke(self, function: Function, route: Route, event: dict, send) -> None:
        try:
            response = await self.call(function.name, event, min(function.timeout_s, route.timeout_s))
            status, response_headers, response_body = response_parts(response)
        except StillRunning:  # Lambda stopped the function (502), or API Gateway gave up waiting first (504)
            raise GatewayError(
                *(gateway.FUNCTION_FAILED if function.timeout_s <= route.timeout_s else gateway.TIMED_OUT)
            ) from None
        except Exception:  # INIT or the handler raised, or the response is no proxy response
            raise GatewayError(*gateway.FUNCTION_FAILED) from None
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
        await self.refuse(send, GatewayError(*gateway.NO_ROUTE))

    async def refuse(self, send, error: GatewayError, headers: list[tuple[bytes, bytes]] = ()) -> None:
        status, body = self.gateway.answer(error)
        await send_json(send, status, body, [*headers, *cors(layer_settings())])


def encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def read_body(scope, receive, timeout_s: float, limit: int = API_GATEWAY_MAX_BODY) -> bytes:
    """The whole request body, as API Gateway reads it before invoking anything; GatewayError (413 or 408) else."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), b"")
    if declared.isdigit() and int(declared) > limit:
        raise GatewayError(*gateway.TOO_LARGE)
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
                    raise GatewayError(*gateway.TOO_LARGE)
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
    except TimeoutError:
        raise GatewayError(408, "Request Timeout") from None


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


async def send_json(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> None:
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
