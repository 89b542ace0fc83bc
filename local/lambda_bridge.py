"""Loads function code as Lambda would, and speaks API Gateway REST proxy events to it."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import sys
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .template import ROOT, Function

# On Lambda the classify function finds its model under LAMBDA_TASK_ROOT, its own code folder; here every function
# shares one process, so the model file is named instead.
os.environ.setdefault("IMAGE_MODEL_PATH", str(ROOT / "functions" / "classify" / "model" / "efficientnet-lite0.onnx"))


class StillRunning(Exception):
    """The handler has run for the whole time it was given."""


TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")
LAMBDA_MAX_PAYLOAD = 6_291_456  # bytes of a synchronous invocation's event (RequestEntityTooLargeException above)


def layer_settings():
    """The settings the functions read (airelay.settings), from the same environment."""
    from airelay.settings import get_settings

    return get_settings()


def load_module(function: Function):
    """Imports the function's entry module from its code folder. The layer's package comes from the venv, where
    `make venv` installs layers/core, as Lambda puts the layer's /opt/python on the path."""
    module_name = function.handler.split(".")[0] if not function.web_adapter else "app"
    unique = f"airelay_function_{function.name}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, Path(function.code_dir) / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


def handler_of(function: Function):
    """The Lambda handler: Mangum's for Mangum functions; for Web Adapter functions, Mangum around the ASGI app,
    which turns an event into an HTTP request as the adapter does (buffered)."""
    module = load_module(function)
    if function.web_adapter:
        from mangum import Mangum

        return Mangum(module.app, lifespan="off")
    return getattr(module, function.handler.split(".")[1])


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    timeout_s: float = 3.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.function_version = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def rest_event(
    method: str,
    path: str,
    resource: str,
    headers: dict[str, str],
    query: dict[str, list[str]],
    body: bytes,
    source_ip: str,
    path_parameters: dict[str, str] | None,
    stage: str = "local",
) -> dict:
    content_type = headers.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": request_context(method, path, resource, headers, source_ip, stage),
        "body": (body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()) if body else None,
        "isBase64Encoded": not is_text,
    }


def payload_size(event: dict) -> int:
    """The event's size as Lambda counts it: its JSON."""
    return len(json.dumps(event, separators=(",", ":")).encode())


def request_context(
    method: str, path: str, resource: str, headers: dict[str, str], source_ip: str, stage: str = "local"
) -> dict:
    return {
        "resourcePath": resource,
        "httpMethod": method,
        "path": f"/{stage}{path}",
        "stage": stage,
        "requestId": str(uuid.uuid4()),
        "requestTimeEpoch": int(time.time() * 1000),
        "protocol": "HTTP/1.1",
        "identity": {
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent"),
            "apiKey": None,
            "apiKeyId": None,
        },
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": headers.get("host", "127.0.0.1"),
    }


def response_parts(response: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = {k.lower(): [v] for k, v in (response.get("headers") or {}).items()}
    for k, values in (response.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = list(values)
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode("utf-8")
    pairs = [(k.encode(), str(v).encode()) for k, vs in headers.items() if k != "content-length" for v in vs]
    return int(response.get("statusCode", 502)), pairs, body


class Container:
    """One warm Lambda container: a single thread with its own event loop, one invocation at a time."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._handler = None
        self._executor = ThreadPoolExecutor(1, f"lambda-{function.name}", initializer=self._new_loop)

    @staticmethod
    def _new_loop() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())

    def _call(self, event: dict, started=lambda: None) -> dict:
        if self._handler is None:
            self._handler = handler_of(self.function)
        started()
        request_id = event.get("requestContext", {}).get("requestId") or str(uuid.uuid4())  # S3 events have none
        return self._handler(event, LambdaContext(self.function.name, request_id, timeout_s=self.function.timeout_s))

    def invoke(self, event: dict) -> Future:
        return self._executor.submit(self._call, event)

    async def call(self, event: dict, timeout_s: float) -> dict:
        """The handler's response; StillRunning when it runs longer than timeout_s. The time counts from the handler's
        start: a cold start's INIT and the wait for this container's previous invocation, far slower here than on
        Lambda, do not count."""
        loop = asyncio.get_running_loop()
        started = asyncio.Event()
        done = asyncio.wrap_future(
            self._executor.submit(self._call, event, lambda: loop.call_soon_threadsafe(started.set))
        )
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, done}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        finished, _ = await asyncio.wait({done}, timeout=timeout_s)
        if not finished:
            raise StillRunning(self.function.name)
        return done.result()

    def retire(self) -> None:
        """Takes no more invocations; one still running ends in its thread (Python cannot stop a thread)."""
        self._executor.shutdown(wait=False)
