"""Runs one chat call against a provider within the server's deadlines, buffered or streamed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from .errors import AirelayError, ProviderFailed, ProviderTimeout
from .providers.base import ChatModel, ChatRequest, Completion, Finished, Usage
from .settings import Settings
from .streaming import UIMessageStream
from .tokens import estimate_async

log = logging.getLogger("airelay.relay")


def usage_data(model_id: str, usage: Usage) -> dict:
    return {
        "model": model_id,
        "inputTokens": usage.prompt_tokens,
        "outputTokens": usage.completion_tokens,
        "cachedTokens": usage.cached_tokens,
        "estimated": usage.estimated,
    }


async def complete(model: ChatModel, request: ChatRequest, settings: Settings) -> Completion:
    try:
        with anyio.fail_after(settings.upstream_timeout_s):
            completion = await model.complete(request)
    except TimeoutError:
        raise ProviderTimeout() from None
    if completion.finished.usage is None:
        completion.finished.usage = await estimate_async(request.messages, completion.text)
    return completion


async def open_stream(model: ChatModel, request: ChatRequest, settings: Settings) -> ChatStream:
    """Starts the upstream stream and waits for its first event, so early failures get a real HTTP status."""
    events = model.stream(request)
    try:
        with anyio.fail_after(settings.upstream_timeout_s):
            first = await anext(events)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await events.aclose()
        if isinstance(exc, TimeoutError):
            raise ProviderTimeout() from None
        if isinstance(exc, StopAsyncIteration):
            raise ProviderFailed("The model provider sent an empty answer.") from None
        raise
    return ChatStream(model.model_id, request, first, events, settings)


@dataclass
class Outcome:
    status: str = "cancelled"  # ok | error | cancelled
    text: str = ""
    reason: str | None = None
    usage: Usage | None = None
    error: AirelayError | None = None


class ChatStream:
    def __init__(self, model_id: str, request: ChatRequest, first, events: AsyncIterator, settings: Settings) -> None:
        self.model_id = model_id
        self.request = request
        self.first = first
        self.events = events
        self.deadline = anyio.current_time() + settings.stream_deadline_s
        self.outcome = Outcome()

    async def ui_message_stream(self, encoder: UIMessageStream) -> AsyncIterator[bytes]:
        """Yields SSE bytes; a failure after the first byte becomes an `error` part."""
        text: list[str] = []
        outcome = self.outcome
        try:
            yield encoder.start()
            event = self.first
            while isinstance(event, str):
                text.append(event)
                yield encoder.delta(event)
                with anyio.fail_after(max(0.0, self.deadline - anyio.current_time())):
                    event = await anext(self.events)
            outcome.text = "".join(text)
            outcome.reason = event.reason if isinstance(event, Finished) else "other"
            outcome.usage = event.usage or await estimate_async(self.request.messages, outcome.text)
            outcome.status = "ok"
            yield encoder.finish(outcome.reason, usage_data(self.model_id, outcome.usage))
        except (AirelayError, TimeoutError, StopAsyncIteration) as exc:
            outcome.error = stream_error(exc)
            outcome.status = "error"
            outcome.text = "".join(text)
            outcome.usage = await estimate_async(self.request.messages, outcome.text)
            yield encoder.error(outcome.error.message, usage_data(self.model_id, outcome.usage))
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()
                if outcome.usage is None:
                    outcome.text = "".join(text)
                    outcome.usage = await estimate_async(self.request.messages, outcome.text)
            log.info("stream %s: %s, %s output tokens", self.model_id, outcome.status, outcome.usage.completion_tokens)


def stream_error(exc: BaseException) -> AirelayError:
    if isinstance(exc, AirelayError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout("The answer took longer than the server's deadline.")
    return ProviderFailed("The model provider's stream ended before the answer was finished.")
