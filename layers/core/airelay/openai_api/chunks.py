"""ChatEvents -> OpenAI's `chat.completion.chunk` SSE lines, exactly as OpenAI sends them: a role chunk first; tool
calls with their index on every fragment, id, type and name on the first only, arguments as fragments; one chunk
with the finish reason; the usage chunk (choices: []) when asked; `data: [DONE]`. A failure after the 200 is an
`error` event, which OpenAI's SDKs raise and the AI SDK reports, never a clean stop."""

from __future__ import annotations

import secrets
import time

from pydantic_core import to_json

from ..providers.base import Usage

FINISH_REASONS = {"stop": "stop", "length": "length", "content-filter": "content_filter", "tool-calls": "tool_calls"}
DONE = b"data: [DONE]\n\n"


def finish_reason(reason: str) -> str:
    return FINISH_REASONS.get(reason, "stop")


def usage_body(used: Usage) -> dict:
    return {
        "prompt_tokens": used.prompt_tokens,
        "completion_tokens": used.completion_tokens,
        "total_tokens": used.prompt_tokens + used.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": used.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": used.reasoning_tokens},
    }


def sse(payload: dict) -> bytes:
    return b"data: " + to_json(payload, inf_nan_mode="null") + b"\n\n"


class ChunkEncoder:
    """The encoder ChatStream.parts writes to (delta, reasoning, refusal, tool_start, tool_delta), plus the stream's
    ends."""

    def __init__(self, model_id: str) -> None:
        self.head = {
            "id": f"chatcmpl-{secrets.token_hex(16)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model_id,
            "system_fingerprint": None,
        }
        self.tool_index: dict[str, int] = {}

    def chunk(self, delta: dict, finish: str | None = None) -> bytes:
        return sse({**self.head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    def start(self) -> bytes:
        return self.chunk({"role": "assistant", "content": "", "refusal": None})

    def delta(self, text: str) -> bytes:
        return self.chunk({"content": text})

    def reasoning(self, text: str) -> bytes:
        return self.chunk({"reasoning_content": text})  # what OpenAI-compatible servers (and the AI SDK) use

    def refusal(self, text: str) -> bytes:
        return self.chunk({"refusal": text})

    def tool_start(self, call_id: str, name: str) -> bytes:
        index = self.tool_index.setdefault(call_id, len(self.tool_index))
        call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return self.chunk({"tool_calls": [call]})

    def tool_delta(self, call_id: str, fragment: str) -> bytes:
        return self.chunk({"tool_calls": [{"index": self.tool_index[call_id], "function": {"arguments": fragment}}]})

    def finish(self, reason: str, used: Usage | None) -> bytes:
        end = self.chunk({}, finish_reason(reason))
        if used is not None:
            end += sse({**self.head, "choices": [], "usage": usage_body(used)})
        return end + DONE

    @staticmethod
    def error(body: dict) -> bytes:
        return sse(body)
