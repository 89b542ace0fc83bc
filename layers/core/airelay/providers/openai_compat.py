"""OpenAI and any OpenAI-compatible server (llama.cpp server, Ollama, vLLM) through AsyncOpenAI."""

from __future__ import annotations

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
from .base import ChatModel, ChatRequest, Completion, Finished, Usage

log = logging.getLogger("airelay.providers")

FINISH_REASONS = {"stop": "stop", "length": "length", "content_filter": "content-filter", "tool_calls": "tool-calls"}


class OpenAICompatChatModel(ChatModel):
    provider = "openai"

    def __init__(self, model_id: str, client: openai.AsyncOpenAI, settings: Settings) -> None:
        super().__init__(model_id)
        self.client = client
        self.stream_timeout = httpx2.Timeout(settings.stream_idle_timeout_s, connect=settings.upstream_connect_timeout_s)

    def arguments(self, request: ChatRequest) -> dict:
        args = {"model": self.name, "messages": request.messages, "max_tokens": request.max_tokens}
        for name in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "response_format"):
            value = getattr(request, name)
            if value is not None:
                args[name] = value
        return args

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            answer = await self.client.chat.completions.create(**self.arguments(request))
        except Exception as exc:
            raise provider_error(exc) from None
        if not answer.choices:
            raise ProviderFailed("The model provider returned no answer.")
        choice = answer.choices[0]
        return Completion(choice.message.content or "", Finished(finish_reason(choice.finish_reason), usage_of(answer)))

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Finished]:
        try:
            stream = await self.client.chat.completions.create(
                **self.arguments(request),
                stream=True,
                stream_options={"include_usage": True},
                timeout=self.stream_timeout,
            )
        except Exception as exc:
            raise provider_error(exc) from None
        reason = None
        usage = None
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = usage_of(chunk)
                if chunk.choices:
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason:
                        reason = finish_reason(choice.finish_reason)
        except Exception as exc:
            raise provider_error(exc) from None
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()
        if reason is None:
            raise ProviderFailed("The model provider's stream ended before the answer was finished.")
        yield Finished(reason, usage)


def finish_reason(reason: str | None) -> str:
    return FINISH_REASONS.get(reason or "stop", "other")


def usage_of(answer) -> Usage | None:
    usage = answer.usage
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
    return Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0, cached)


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
    if isinstance(exc, (json.JSONDecodeError, ValueError, openai.APIResponseValidationError)):
        return ProviderFailed("The model provider sent a malformed response.")
    if isinstance(exc, openai.APIError):
        return ProviderFailed()
    return ProviderFailed()


def retry_after(response: httpx2.Response | None) -> int | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(1, int(float(value))) if value else None
    except ValueError:
        return None
