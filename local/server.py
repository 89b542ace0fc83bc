"""The local API: serves every route in template.yaml on one port, as API Gateway and Lambda would.

Web Adapter functions (Handler: run.sh) are ASGI apps served directly, as the adapter's uvicorn does, so they
stream. Mangum functions are invoked through their real Lambda handler with a REST API proxy event, one
invocation at a time per function, like a warm container.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from pathlib import Path
from urllib.parse import parse_qs

from .lambda_bridge import Container, load_module, response_parts, rest_event
from .preflight import preflights
from .template import ROOT, TEMPLATE, Function, Route, functions, load_template

DEMO = ROOT / "web" / "demo"


class LocalApi:
    def __init__(self, template: Path = TEMPLATE, static_dir: Path = DEMO) -> None:
        declared = load_template(template)
        self.functions = functions(declared)
        self.preflights = preflights(declared, os.environ)  # OPTIONS: API Gateway's mock, no function runs
        self.routes: list[tuple[Route, Function]] = [(r, f) for f in self.functions for r in f.routes]
        self.static_dir = static_dir
        self.containers: dict[str, Container] = {}

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
        found = self.find(scope["method"], scope["path"])
        if found is None:
            await self.static(scope, send)
            return
        route, function, params = found
        if function.web_adapter:
            await load_module(function).app(scope, receive, send)
        else:
            await self.invoke(function, route, params, scope, receive, send)

    def find(self, method: str, path: str) -> tuple[Route, Function, dict] | None:
        for route, function in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, function, params
        return None

    async def invoke(self, function: Function, route: Route, params: dict, scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)  # as API Gateway
        client = scope.get("client") or ("127.0.0.1", 0)
        event = rest_event(scope["method"], scope["path"], route.path, headers, query, body, client[0], params)
        container = self.containers.get(function.name) or self.containers.setdefault(function.name, Container(function))
        try:
            response = await asyncio.wrap_future(container.invoke(event))
        except Exception:
            await send_json(send, 502, {"error": {"code": "function_failed", "message": "The function failed."}})
            return
        status, response_headers, response_body = response_parts(response)
        response_headers.append((b"content-length", str(len(response_body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": response_body})

    async def static(self, scope, send) -> None:
        path = scope["path"]
        if scope["method"] in ("GET", "HEAD") and not path.startswith("/api/"):
            file = (self.static_dir / (path.lstrip("/") or "index.html")).resolve()
            if file.is_dir():
                file = file / "index.html"
            if file.is_file() and self.static_dir.resolve() in file.parents:
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
        await send_json(send, 404, {"error": {"code": "not_found", "message": "No such route."}})


def encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
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
