"""Answers scripted as raw deltas (``Deltas``): tool-call fragments, reasoning fields, content, as given."""

from __future__ import annotations

import json
import time

from .behaviours import Deltas
from .connection import _Conn
from .wire import _CHUNKED_END, _DONE_EVENT, _MALFORMED_EVENT, _STREAM_HEAD, _count_prompt_tokens, _dumps, _frame


def _message_of(deltas: tuple[dict, ...]) -> dict:
    """The buffered message the deltas add up to: joined content and refusal, tool calls put together by index."""
    content, refusal, calls = [], [], {}
    for delta in deltas:
        content.append(delta.get("content") or "")
        refusal.append(delta.get("refusal") or "")
        for fragment in delta.get("tool_calls") or ():
            call = calls.setdefault(
                fragment["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = fragment.get("id") or call["id"]
            function = fragment.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""
    message = {"role": "assistant", "content": "".join(content) or None, "refusal": "".join(refusal) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


class _ScriptedDeltas:
    """``Deltas`` answers (a mixin of ``FakeUpstream``)."""

    async def _deltas(self, conn: _Conn, beh: Deltas, body: dict, rid: int, stream: bool, keep_alive: bool) -> bool:
        usage = {
            "prompt_tokens": _count_prompt_tokens(body["messages"]),
            "completion_tokens": len(beh.deltas),
            "total_tokens": _count_prompt_tokens(body["messages"]) + len(beh.deltas),
        }
        head = {"id": f"chatcmpl-fake-{rid}", "created": int(time.time()), "model": body.get("model")}
        if not stream:
            choice = {"index": 0, "message": _message_of(beh.deltas), "finish_reason": beh.finish}
            answer = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            self._send_simple(conn, 200, _dumps(answer).encode(), keep_alive, b"", rid)
            return keep_alive
        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and bool(so.get("include_usage"))

        def event(choices, **extra) -> bytes:
            chunk = {**head, "object": "chat.completion.chunk", "choices": choices, **extra}
            return _frame(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")

        await self._send(conn, _STREAM_HEAD + b"x-request-id: req_fake_%d\r\ntransfer-encoding: chunked\r\n\r\n" % rid)
        self._start_watch(conn)
        delay = beh.chunk_delay_s if beh.chunk_delay_s is not None else self.chunk_delay_s
        await self._send(conn, event([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]))
        for delta in beh.deltas:
            if delay:
                await self._pause(conn, delay)
            await self._send(conn, event([{"index": 0, "delta": delta, "finish_reason": None}]))
        if beh.after_s:
            await self._pause(conn, beh.after_s)
        if beh.fault == "reset":
            await self._pause(conn, 0.05)  # the fragments reach the client before the reset
            self._reset(conn, True)
            return False
        if beh.fault in ("stall", "malformed"):
            if beh.fault == "malformed":
                await self._send(conn, _frame(_MALFORMED_EVENT) + _CHUNKED_END)
            conn.transport.close()
            return False
        tail = event([{"index": 0, "delta": {}, "finish_reason": beh.finish}])
        if include_usage:
            tail += event([], usage=usage)
        await self._send(conn, tail + _frame(_DONE_EVENT) + _CHUNKED_END)
        return True
