"""OpenAI and any OpenAI-compatible server (llama.cpp server, Ollama, vLLM): requests through upstream_http.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from pydantic_core import from_json

from ..errors import AirelayError, ProviderFailed, ProviderTimeout, UnreadableAnswer
from .base import (
    ChatEvent,
    ChatModel,
    ChatRequest,
    Completion,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from .control_tokens import neutralised_messages, neutralised_value
from .openai_chunks import (
    THINK_CLOSE,
    THINK_OPEN,
    StreamState,
    ThinkSplitter,
    content_of,
    finish_reason,
    new_call_id,
    text_of,
    usage_of,
)
from .upstream_http import UpstreamClient

log = logging.getLogger("airelay.providers")

DRAIN_S = 0.1  # the SDK's bound on reading past [DONE]
RELAYED = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "parallel_tool_calls",
    "stop",
    "seed",
    "user",
)
OPENAI_HOST = "api.openai.com"  # reads message text as plain text; every other server renders a chat template


class OpenAICompatChatModel(ChatModel):
    """Answers are read raw, skipping per-chunk model objects, which would cost more CPU than everything else in a
    relayed stream."""

    provider = "openai"

    def __init__(self, model_id: str, client: UpstreamClient) -> None:
        super().__init__(model_id)
        self.client = client
        self.self_hosted = client.host != OPENAI_HOST
        # OpenAI's reasoning models refuse the deprecated max_tokens; other servers may not know its successor
        self.max_tokens_field = "max_tokens" if self.self_hosted else "max_completion_tokens"

    def renew(self, api_key: str | None = None) -> None:
        """A new client, its pools empty, the same settings and key, or `api_key` (after a SnapStart restore)."""
        self.client = self.client.renewed(api_key)

    def arguments(self, request: ChatRequest) -> dict:
        messages = neutralised_messages(request.messages) if self.self_hosted else request.messages
        args = {"model": self.name, "messages": messages, self.max_tokens_field: request.max_tokens}
        for name in RELAYED:
            value = getattr(request, name)
            if value is not None:
                args[name] = value
        if request.tools:
            args["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
            if self.self_hosted:  # a template renders the descriptions and schemas (often in the system turn)
                args["tools"] = neutralised_value(args["tools"])
            choice = request.tool_choice
            if choice in ("auto", "required", "none"):
                args["tool_choice"] = choice
            elif choice:
                args["tool_choice"] = {"type": "function", "function": {"name": choice}}
        return args

    async def complete(self, request: ChatRequest) -> Completion:
        response = await self.client.post("/chat/completions", self.arguments(request))
        used = None
        try:
            answer = from_json(await response.read())
            used = usage_of(answer.get("usage"))
            choice = answer["choices"][0]
            message = choice["message"]
            finished = Finished(finish_reason(choice.get("finish_reason")), used)
            calls = [
                ToolCall(new_call_id(), text_of(c["function"]["name"]), text_of(c["function"].get("arguments") or ""))
                for c in message.get("tool_calls") or ()
            ]
            refusal = text_of(message.get("refusal") or "")
            content, thought = content_of(message.get("content"))
            text, reasoning = split_think(content)
            reasoning = (
                text_of(message.get("reasoning_content") or message.get("reasoning") or "") + thought + reasoning
            )
        except Exception as exc:
            raise provider_error(exc, used) from None
        if calls and finished.reason == "stop":
            finished.reason = "tool-calls"
        return Completion(text, finished, reasoning, calls, refusal)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body = {**self.arguments(request), "stream": True, "stream_options": {"include_usage": True}}
        response = await self.client.post("/chat/completions", body, stream=True)
        state = StreamState(request.max_tokens)
        try:
            while data := await received(response.content):
                for event in state.feed(data):
                    yield event
                if state.failure:
                    raise state.failure
                if state.done:  # [DONE], or past max_tokens: then closing the connection stops the upstream
                    break
            if state.done and not state.overrun and not response.content.at_eof():
                await drain(response)
        except Exception as exc:
            raise provider_error(exc) from None
        finally:  # a stream read to its end goes back to the pool; one left early is closed
            response.release() if response.content.at_eof() else response.close()
        if state.reason is None:
            raise ProviderFailed("The model provider's stream ended before the answer was finished.")
        for event in state.close():
            yield event
        yield Finished(state.reason, state.usage)


async def received(content: aiohttp.StreamReader) -> bytes:
    """The body's next bytes as they arrive (as `iter_any` reads them), b"" at its end. A connection cut mid-body is
    raised only after the bytes that arrived before it: aiohttp's reads raise the stored error first and would drop
    what it holds unread (aio-libs/aiohttp#3026), so those are taken from its buffer, and the next read raises."""
    try:
        return await content.readany()
    except aiohttp.ClientError:
        held = content._read_nowait(-1)  # private, aiohttp pinned: every public read raises before its buffer
        if not held:
            raise
        return held


async def drain(response: aiohttp.ClientResponse) -> None:
    """What follows [DONE] (the body's end), read for at most DRAIN_S so that the connection can be pooled. As in
    the SDK, nothing there fails an answer that has finished: a peer that cuts or holds the connection is closed."""
    try:
        async with asyncio.timeout(DRAIN_S):
            await response.content.read()
    except (aiohttp.ClientError, TimeoutError):
        pass


def split_think(content: str) -> tuple[str, str]:
    """A buffered answer's content as (text, reasoning): local models write their reasoning in <think> tags."""
    if THINK_OPEN not in content and THINK_CLOSE not in content:
        return content, ""
    splitter = ThinkSplitter()
    events = [*splitter.feed(content), *splitter.flush()]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def provider_error(exc: BaseException, used: Usage | None = None) -> AirelayError:
    """An error met reading the provider's 2xx answer as an airelay error, once, without the upstream body; with the
    usage it reported, where that was read."""
    if isinstance(exc, AirelayError):
        return exc
    log.warning("upstream answer failed (%s)", type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return ProviderTimeout()
    if isinstance(exc, aiohttp.ClientError):
        return UnreadableAnswer("The model provider's stream broke off.", usage=used)
    return UnreadableAnswer(usage=used)
