"""OpenAI and any OpenAI-compatible server (llama.cpp server, Ollama, vLLM) through AsyncOpenAI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import anyio
import httpx2
import openai
from pydantic_core import from_json

from ..errors import (
    AirelayError,
    InvalidInput,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..settings import Settings
from .base import (
    ChatEvent,
    ChatModel,
    ChatRequest,
    Completion,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    upstream_retry_after,
)
from .control_tokens import neutralised_messages, neutralised_value
from .loops import LoopClients
from .openai_chunks import (
    THINK_CLOSE,
    THINK_OPEN,
    StreamState,
    ThinkSplitter,
    finish_reason,
    new_call_id,
    text_of,
    usage_of,
)

log = logging.getLogger("airelay.providers")

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
    """Requests go through the SDK (its retries, timeouts and status errors); answers are read raw, skipping the
    SDK's per-chunk model objects, which cost more CPU than everything else in a relayed stream."""

    provider = "openai"

    def __init__(self, model_id: str, client: openai.AsyncOpenAI, settings: Settings) -> None:
        super().__init__(model_id)
        self.clients = LoopClients(client, chat_http_client)
        self.self_hosted = client.base_url.host != OPENAI_HOST
        # OpenAI's reasoning models refuse the deprecated max_tokens; other servers may not know its successor
        self.max_tokens_field = "max_tokens" if self.self_hosted else "max_completion_tokens"
        self.stream_timeout = httpx2.Timeout(
            settings.stream_idle_timeout_s, connect=settings.upstream_connect_timeout_s
        )

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self.clients.client

    def loop_client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop (providers.loops)."""
        return self.clients.for_running_loop()

    def renew(self, api_key: str | None = None) -> None:
        """A new client, its pool empty, the same settings and key, or `api_key` (after a SnapStart restore)."""
        self.clients.client = self.client.copy(http_client=chat_http_client(), api_key=api_key or self.client.api_key)

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
        try:
            response = await self.loop_client().post(
                "/chat/completions", body=self.arguments(request), cast_to=httpx2.Response
            )
            answer = from_json(response.content)
            choice = answer["choices"][0]
            message = choice["message"]
            finished = Finished(finish_reason(choice.get("finish_reason")), usage_of(answer.get("usage")))
            calls = [
                ToolCall(new_call_id(), c["function"]["name"], c["function"].get("arguments") or "")
                for c in message.get("tool_calls") or ()
            ]
            refusal = text_of(message.get("refusal") or "")
        except Exception as exc:
            raise provider_error(exc) from None
        text, reasoning = split_think(message.get("content") or "")
        reasoning = (message.get("reasoning_content") or message.get("reasoning") or "") + reasoning
        if calls and finished.reason == "stop":
            finished.reason = "tool-calls"
        return Completion(text, finished, reasoning, calls, refusal)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        body = {**self.arguments(request), "stream": True, "stream_options": {"include_usage": True}}
        try:  # as complete(): the SDK's request (retries, status errors) without its parameter transforms; unread
            response = await self.loop_client().post(
                "/chat/completions",
                body=body,
                cast_to=httpx2.Response,
                stream=True,
                options={"timeout": self.stream_timeout},
            )
        except Exception as exc:
            raise provider_error(exc) from None
        state = StreamState(request.max_tokens)
        try:
            async for data in response.aiter_bytes():  # read to the end, so the connection goes back to the pool
                for event in state.feed(data):
                    yield event
                if state.failure:
                    raise state.failure
                if state.overrun:
                    break  # closing the response stops an upstream that runs past max_tokens
        except Exception as exc:
            raise provider_error(exc) from None
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        if state.reason is None:
            raise ProviderFailed("The model provider's stream ended before the answer was finished.")
        for event in state.close():
            yield event
        yield Finished(state.reason, state.usage)


def split_think(content: str) -> tuple[str, str]:
    """A buffered answer's content as (text, reasoning): local models write their reasoning in <think> tags."""
    if THINK_OPEN not in content and THINK_CLOSE not in content:
        return content, ""
    splitter = ThinkSplitter()
    events = [*splitter.feed(content), *splitter.flush()]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, "".join(e.text for e in events if isinstance(e, ReasoningDelta))


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


def chat_http_client() -> httpx2.AsyncClient:
    """The SDK's aiohttp transport (its `aiohttp` extra), as its docs offer for async clients: the same requests,
    retries and errors, with aiohttp's C HTTP parser instead of httpcore's pure-Python one (`python -m
    bench.upstream_client`: 0.67 against 0.97 ms of CPU per buffered call, 0.67 against 1.19 per 20-chunk stream)."""
    return openai.DefaultAioHttpClient(event_hooks={"response": [note_rate_limit]})


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
