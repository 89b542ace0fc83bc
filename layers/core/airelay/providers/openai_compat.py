"""OpenAI and any OpenAI-compatible server (llama.cpp server, Ollama, vLLM) through AsyncOpenAI."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator

import anyio
import httpx2
import openai

from ..errors import (
    AirelayError,
    InvalidInput,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..settings import Settings
from .base import ChatModel, ChatRequest, Completion, Finished, Usage, upstream_retry_after
from .control_tokens import neutralised_messages

log = logging.getLogger("airelay.providers")

OPENAI_HOST = "api.openai.com"  # reads message text as plain text; every other server renders a chat template
FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content-filter", "tool_calls": "tool-calls"}


class OpenAICompatChatModel(ChatModel):
    """Requests go through the SDK (its retries, timeouts and status errors); answers are read raw, skipping the
    SDK's per-chunk model objects, which cost more CPU than everything else in a relayed stream."""

    provider = "openai"

    def __init__(self, model_id: str, client: openai.AsyncOpenAI, settings: Settings) -> None:
        super().__init__(model_id)
        self.client = client
        self.self_hosted = client.base_url.host != OPENAI_HOST
        self.stream_timeout = httpx2.Timeout(
            settings.stream_idle_timeout_s, connect=settings.upstream_connect_timeout_s
        )

    def arguments(self, request: ChatRequest) -> dict:
        messages = neutralised_messages(request.messages) if self.self_hosted else request.messages
        args = {"model": self.name, "messages": messages, "max_tokens": request.max_tokens}
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "response_format"):
            value = getattr(request, name)
            if value is not None:
                args[name] = value
        return args

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            response = await self.client.post(
                "/chat/completions", body=self.arguments(request), cast_to=httpx2.Response
            )
            answer = json.loads(response.content)
            choice = answer["choices"][0]
            text = choice["message"].get("content") or ""
            finished = Finished(finish_reason(choice.get("finish_reason")), usage_of(answer.get("usage")))
        except Exception as exc:
            raise provider_error(exc) from None
        return Completion(text, finished)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Finished]:
        body = {**self.arguments(request), "stream": True, "stream_options": {"include_usage": True}}
        opened = contextlib.AsyncExitStack()
        try:  # the SDK's public way to read a response unparsed
            create = self.client.chat.completions.with_streaming_response.create
            response = await opened.enter_async_context(create(**body, timeout=self.stream_timeout))
        except Exception as exc:
            raise provider_error(exc) from None
        state = StreamState(request.max_tokens)
        try:
            async for data in response.iter_bytes():  # read to the end, so the connection goes back to the pool
                text = state.feed(data)
                if text:
                    yield text
                if state.overrun:
                    break  # closing the response stops an upstream that runs past max_tokens
        except Exception as exc:
            raise provider_error(exc) from None
        finally:
            with anyio.CancelScope(shield=True):
                await opened.aclose()
        if state.reason is None:
            raise ProviderFailed("The model provider's stream ended before the answer was finished.")
        yield Finished(state.reason, state.usage)


class StreamState:
    """Reads `chat.completion.chunk` SSE lines as they arrive; the text of one network read comes out as one delta.

    Every content chunk holds at least one token, so a content chunk past `max_tokens` of them means the upstream
    ignored the limit: the answer ends there, as if it had stopped for length (`overrun`)."""

    __slots__ = ("buffer", "chunks", "done", "max_tokens", "overrun", "reason", "usage")

    def __init__(self, max_tokens: int) -> None:
        self.buffer = b""
        self.reason: str | None = None
        self.usage: Usage | None = None
        self.done = False
        self.overrun = False
        self.max_tokens = max_tokens
        self.chunks = 0

    def feed(self, data: bytes) -> str:
        if self.done:
            return ""
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        texts = []
        for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self.done = True
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                raise ProviderFailed()
            if chunk.get("usage"):
                self.usage = usage_of(chunk["usage"])
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if self.chunks == self.max_tokens:
                        self.reason, self.done, self.overrun = "length", True, True
                        break
                    self.chunks += 1
                    texts.append(content)
                if choice.get("finish_reason"):
                    self.reason = finish_reason(choice["finish_reason"])
            if self.overrun:
                break
        return "".join(texts)


def finish_reason(reason: str | None) -> str:
    return FINISH_REASONS.get(reason or "stop", "other")


def usage_of(usage: dict | None) -> Usage | None:
    if not usage:
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0, cached)


def provider_error(exc: BaseException) -> AirelayError:
    """Map an SDK or transport error to an airelay error, once, without leaking the upstream body."""
    if isinstance(exc, AirelayError):
        return exc
    log.warning("upstream error %s (status %s)", type(exc).__name__, getattr(exc, "status_code", "-"))
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimited(retry_after=retry_after(exc.response))
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ProviderFailed("The model provider refused this server's credentials.")
    if isinstance(exc, openai.NotFoundError):
        return ProviderFailed("The configured model is not available at the model provider.")
    if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return InvalidInput("The model provider rejected the request (for example, the conversation is too long).")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (503, 529):
            return ProviderUnavailable()
        return ProviderFailed()
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException, TimeoutError)):
        return ProviderTimeout()
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable("The model provider could not be reached.")
    if isinstance(exc, (httpx2.TransportError, httpx2.StreamError)):
        return ProviderFailed("The model provider's stream broke off.")
    if isinstance(exc, (ValueError, KeyError, IndexError, TypeError, AttributeError)):
        return ProviderFailed("The model provider sent a malformed response.")
    if isinstance(exc, openai.APIError):
        return ProviderFailed()
    return ProviderFailed()


async def note_rate_limit(response: httpx2.Response) -> None:
    """httpx event hook: remember a 429's Retry-After for the call in progress (see upstream_retry_after)."""
    if response.status_code == 429:
        upstream_retry_after.set(retry_after(response) or 1)


def retry_after(response: httpx2.Response | None) -> int | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(1, int(float(value))) if value else None
    except ValueError:
        return None
