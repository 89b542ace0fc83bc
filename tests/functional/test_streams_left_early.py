"""The three streamed routes, called as ASGI apps whose server cannot send the response's start (the client is gone):
the answer's body never starts, yet its call is settled (EventStreamResponse's on_close, which each route passes)."""

import asyncio
import json
from datetime import UTC, datetime

import pytest

from airelay.openai_api import create_openai_app
from airelay.routers import chat
from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from airelay.web import create_app
from tests.support.upstream import Ok

ROUTES = {
    "/api/chat/stream": {"message": "Hello there", "max_tokens": 50},
    "/v1/chat/completions": {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
    },
    "/v1/responses": {"model": "openai/gpt-4o-mini", "input": "Hello", "stream": True},
}


async def post_to_a_gone_client(app, path: str, payload: dict) -> list[str]:
    body = json.dumps(payload).encode()
    sent = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "http.response.start" and message["status"] == 200:
            raise OSError("the client is gone")

    try:
        await app(scope, receive, send)
    except OSError:
        pass
    return sent


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_a_stream_whose_start_cannot_be_sent_is_settled(upstream, path):
    upstream.script(Ok())
    app = create_app(chat.router) if path.startswith("/api/") else create_openai_app()
    sent = asyncio.run(post_to_a_gone_client(app, path, ROUTES[path]))
    assert sent == ["http.response.start"]
    rows = SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())
    assert [(r.status, r.prompt_tokens > 0) for r in rows] == [("cancelled", True)]
