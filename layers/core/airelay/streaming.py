"""The AI SDK UI message stream (SSE), and an ASGI response that stops its source when the client leaves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from pydantic_core import to_json
from starlette.responses import Response

DONE = b"data: [DONE]\n\n"

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
    (b"x-vercel-ai-ui-message-stream", b"v1"),
]


def _dumps(value: object) -> bytes:
    """Compact UTF-8 JSON. A number JSON cannot write (NaN, infinity: a model's tool arguments may hold one) is
    written as null, as JavaScript's JSON.stringify writes it, so every event stays JSON a client can parse."""
    return to_json(value, inf_nan_mode="null")


def part(payload: dict) -> bytes:
    """One SSE event. JSON keeps newlines, a literal `data: [DONE]`, Korean and emoji inside one line."""
    return b"data: " + _dumps(payload) + b"\n\n"


class UIMessageStream:
    """Encodes one assistant message as UI message stream parts: steps, text and reasoning blocks, tool calls.

    Only part types that ai 5, 6 and 7 all accept (docs: shared/reference/streaming.md). Server-run tools carry
    `providerExecuted: true`, so a client's `sendAutomaticallyWhen` does not post their results again."""

    def __init__(self, message_id: str | None = None, client_tools: frozenset[str] = frozenset()) -> None:
        self.message_id = message_id or f"msg_{uuid.uuid4().hex}"
        self.client_tools = client_tools  # run in the browser: their parts carry no providerExecuted
        self.blocks = 0
        self.open: tuple[str, str] | None = None  # ("text" | "reasoning", id) of the block being written
        self._delta_prefix = b""

    def start(self) -> bytes:
        return part({"type": "start", "messageId": self.message_id})

    def start_step(self) -> bytes:
        return part({"type": "start-step"})

    def delta(self, text: str) -> bytes:
        opened = b"" if self.open is not None and self.open[0] == "text" else self.begin("text")
        return opened + self._delta_prefix + _dumps(text) + b"}\n\n"

    def reasoning(self, text: str) -> bytes:
        opened = b"" if self.open is not None and self.open[0] == "reasoning" else self.begin("reasoning")
        return opened + self._delta_prefix + _dumps(text) + b"}\n\n"

    def refusal(self, text: str) -> bytes:
        return self.delta(text)  # a UI message stream has no refusal part: the user reads it as the answer

    def begin(self, kind: str) -> bytes:
        closed = self.end_block()
        self.blocks += 1
        block_id = f"{kind[0]}{self.blocks}"
        self.open = (kind, block_id)
        self._delta_prefix = b'data: {"type":"%s-delta","id":%s,"delta":' % (kind.encode(), _dumps(block_id))
        return closed + part({"type": f"{kind}-start", "id": block_id})

    def end_block(self) -> bytes:
        if self.open is None:
            return b""
        kind, block_id = self.open
        self.open = None
        return part({"type": f"{kind}-end", "id": block_id})

    def tool_start(self, call_id: str, name: str) -> bytes:
        started = {"type": "tool-input-start", "toolCallId": call_id, "toolName": name}
        return self.end_block() + part(self.executed_here(started, name))

    def executed_here(self, payload: dict, name: str) -> dict:
        return payload if name in self.client_tools else {**payload, "providerExecuted": True}

    def tool_delta(self, call_id: str, fragment: str) -> bytes:
        return part({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": fragment})

    def tool_input(self, call_id: str, name: str, arguments: object) -> bytes:
        available = {"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": arguments}
        return part(self.executed_here(available, name))

    def tool_input_error(self, call_id: str, name: str, raw: str, message: str) -> bytes:
        """A call that cannot run: unknown tool, or arguments that are not the tool's input."""
        return part(
            {
                "type": "tool-input-error",
                "toolCallId": call_id,
                "toolName": name,
                "input": raw,
                "providerExecuted": True,
                "errorText": message,
            }
        )

    def tool_output(self, call_id: str, output: object) -> bytes:
        return part(
            {"type": "tool-output-available", "toolCallId": call_id, "output": output, "providerExecuted": True}
        )

    def tool_error(self, call_id: str, message: str) -> bytes:
        return part(
            {"type": "tool-output-error", "toolCallId": call_id, "errorText": message, "providerExecuted": True}
        )

    def source_document(self, source_id: str, title: str, media_type: str = "text/plain") -> bytes:
        return part({"type": "source-document", "sourceId": source_id, "mediaType": media_type, "title": title})

    def proof(self, call_id: str, proofs: dict[str, str]) -> bytes:
        """What the server said about a tool call, stored with the message (not transient): tools/client.py."""
        return part({"type": "data-tool-proof", "id": call_id, "data": proofs})

    def data(self, name: str, data: dict) -> bytes:
        """A transient `data-<name>` part: reaches the client's onData, is not stored with the message."""
        return part({"type": f"data-{name}", "data": data, "transient": True})

    def finish_step(self) -> bytes:
        return self.end_block() + part({"type": "finish-step"})

    def finish(self, reason: str, usage: dict, metadata: dict | None = None) -> bytes:
        finish: dict = {"type": "finish", "finishReason": reason}
        if metadata:
            finish["messageMetadata"] = metadata
        return part({"type": "data-usage", "data": usage, "transient": True}) + part(finish) + DONE

    def error(self, message: str, usage: dict | None) -> bytes:
        """A failure after the 200: an `error` part, never a normal finish, so the client knows."""
        usage_part = part({"type": "data-usage", "data": usage, "transient": True}) if usage else b""
        return usage_part + part({"type": "error", "errorText": message}) + DONE


class EventStreamResponse(Response):
    """Streams `body` and cancels it as soon as the client disconnects (not only at the next write). `on_close` runs
    last in every case, also when the client left before the body started (a generator closed before its first
    step runs none of its own cleanup): the metered call's settlement."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        headers: list[tuple[bytes, bytes]] | None = None,
        on_close: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.body = body
        self.status_code = 200
        self.background = None
        self.raw_headers = [*HEADERS, *(headers or ())]
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
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
                if self.on_close is not None:
                    await self.on_close()

    @staticmethod
    async def _watch_disconnect(receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope.cancel()
                return
