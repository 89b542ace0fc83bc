"""The bare relay: the floor for a Python relay on this machine. It takes airelay's /v1/chat/completions request and
hands the upstream's answer back byte for byte, streamed, with nothing else: no validation, no key, no metering, no
deadlines. A raw ASGI app under uvicorn (as airelay runs) with one pooled httpx client.

    python -m uvicorn bench.floor:app --port PORT   (UPSTREAM_URL=http://127.0.0.1:PORT/v1)
"""

from __future__ import annotations

import os

import httpx

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8081/v1") + "/chat/completions"
client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=256, max_keepalive_connections=256))


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = client.build_request("POST", UPSTREAM, content=body, headers={"content-type": "application/json"})
    response = await client.send(request, stream=True)
    try:
        kind = response.headers.get("content-type", "application/json").encode()
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": [(b"content-type", kind)]}
        )
        async for piece in response.aiter_raw():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await response.aclose()
