"""The AI SDK UI message stream (SSE), and an ASGI response that stops its source when the client leaves."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import anyio
from starlette.responses import Response

DONE = b"data: [DONE]\n\n"

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"x-vercel-ai-ui-message-stream", b"v1"),
]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def part(payload: dict) -> bytes:
    """One SSE event. JSON keeps newlines, a literal `data: [DONE]`, Korean and emoji inside one line."""
    return b"data: " + _dumps(payload).encode() + b"\n\n"


class UIMessageStream:
    """Encodes one assistant message as UI message stream parts."""

    def __init__(self, message_id: str | None = None) -> None:
        self.message_id = message_id or f"msg_{uuid.uuid4().hex}"
        self.text_id = "t1"
        self._delta_prefix = b'data: {"type":"text-delta","id":"t1","delta":'

    def start(self) -> bytes:
        return (
            part({"type": "start", "messageId": self.message_id})
            + part({"type": "start-step"})
            + part({"type": "text-start", "id": self.text_id})
        )

    def delta(self, text: str) -> bytes:
        return self._delta_prefix + _dumps(text).encode() + b"}\n\n"

    def finish(self, reason: str, usage: dict) -> bytes:
        return (
            part({"type": "text-end", "id": self.text_id})
            + part({"type": "data-usage", "data": usage, "transient": True})
            + part({"type": "finish-step"})
            + part({"type": "finish", "finishReason": reason})
            + DONE
        )

    def error(self, message: str, usage: dict | None) -> bytes:
        """A failure after the 200: an `error` part, never a normal finish, so the client knows."""
        usage_part = part({"type": "data-usage", "data": usage, "transient": True}) if usage else b""
        return usage_part + part({"type": "error", "errorText": message}) + DONE


class EventStreamResponse(Response):
    """Streams `body` and cancels it as soon as the client disconnects (not only at the next write)."""

    def __init__(self, body: AsyncIterator[bytes], headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.body = body
        self.status_code = 200
        self.background = None
        self.raw_headers = [*HEADERS, *(headers or ())]

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                try:
                    async for chunk in self.body:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    pass  # the client is gone; the body's own cleanup runs below
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.body.aclose()

    @staticmethod
    async def _watch_disconnect(receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return
