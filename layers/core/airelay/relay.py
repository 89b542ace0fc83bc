"""Runs one metered chat call against a provider within the server's deadlines, buffered or streamed.

Every call reserves its worst case before the upstream request and settles exactly once afterwards, whether it
finished, failed or was cancelled by the client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import anyio

from . import usage
from .errors import AirelayError, ProviderFailed, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from .providers.base import ChatModel, ChatRequest, Finished, Usage, upstream_retry_after
from .settings import Settings
from .streaming import UIMessageStream
from .tokens import estimate_async, prompt_bound
from .usage import Caller
from .usage.meter import Call, Meter

log = logging.getLogger("airelay.relay")


@dataclass(slots=True)
class Answer:
    model_id: str
    text: str
    reason: str
    usage: Usage
    cost_usd: Decimal


def usage_data(model_id: str, used: Usage, cost: Decimal, meter: Meter) -> dict:
    return {
        "model": model_id,
        "inputTokens": used.prompt_tokens,
        "outputTokens": used.completion_tokens,
        "cachedTokens": used.cached_tokens,
        "estimated": used.estimated,
        "costUsd": float(cost),
        "costKrw": float(meter.krw(cost)),
    }


def deadline_error() -> AirelayError:
    """Our deadline ended the call: if the provider was rate limiting meanwhile, say so, with its Retry-After."""
    retry = upstream_retry_after.get()
    return ProviderRateLimited(retry_after=retry) if retry is not None else ProviderTimeout()


def within_reservation(used: Usage, request: ChatRequest) -> Usage:
    """What a call is billed: never more tokens than its reservation counted. An upstream that reports more (it
    ignored max_tokens, or counts the prompt past any tokenizer's bound) is billed the bounds, marked estimated."""
    prompt_limit = prompt_bound(request.messages)
    if used.prompt_tokens <= prompt_limit and used.completion_tokens <= request.max_tokens:
        return used
    if not used.estimated:
        log.warning(
            "the provider reported %d prompt and %d completion tokens, over the %d and %d reserved: "
            "billing the reserved counts",
            used.prompt_tokens,
            used.completion_tokens,
            prompt_limit,
            request.max_tokens,
        )
    prompt_tokens = min(used.prompt_tokens, prompt_limit)
    return Usage(
        prompt_tokens, min(used.completion_tokens, request.max_tokens), min(used.cached_tokens, prompt_tokens), True
    )


async def open_call(model: ChatModel, request: ChatRequest, caller: Caller) -> tuple[Meter, Call]:
    upstream_retry_after.set(None)
    meter = await usage.meter()
    call = await meter.open(
        request_id=caller.request_id,
        identity=caller.identity,
        function=caller.function,
        model_id=model.model_id,
        limits=caller.limits,
        prompt_tokens=prompt_bound(request.messages),
        max_tokens=request.max_tokens,
    )
    return meter, call


async def complete(model: ChatModel, request: ChatRequest, settings: Settings, caller: Caller) -> Answer:
    meter, call = await open_call(model, request, caller)
    used, status = Usage(), "cancelled"
    try:
        with anyio.fail_after(settings.upstream_timeout_s):
            completion = await model.complete(request)
        used = within_reservation(
            completion.finished.usage or await estimate_async(request.messages, completion.text), request
        )
        status = "ok"
    except TimeoutError:
        status = "error"
        raise deadline_error() from None
    except Exception:
        status = "error"
        raise
    finally:
        cost = await meter.close(call, used, status)
    return Answer(model.model_id, completion.text, completion.finished.reason, used, cost)


FALLBACK_ON = (ProviderRateLimited, ProviderFailed, ProviderUnavailable, ProviderTimeout)


async def complete_any(models: list[ChatModel], request: ChatRequest, settings: Settings, caller: Caller) -> Answer:
    """Tries the models in order; the next one only when the previous failed at the provider (each attempt is
    metered on its own)."""
    for model in models[:-1]:
        try:
            return await complete(model, request, settings, caller)
        except FALLBACK_ON as exc:
            log.warning("model %s failed (%s); falling back", model.model_id, exc.code)
    return await complete(models[-1], request, settings, caller)


async def open_any_stream(
    models: list[ChatModel], request: ChatRequest, settings: Settings, caller: Caller
) -> ChatStream:
    """Like complete_any, up to the first token; after it, a failure is reported in the stream."""
    for model in models[:-1]:
        try:
            return await open_stream(model, request, settings, caller)
        except FALLBACK_ON as exc:
            log.warning("model %s failed before the first token (%s); falling back", model.model_id, exc.code)
    return await open_stream(models[-1], request, settings, caller)


async def open_stream(model: ChatModel, request: ChatRequest, settings: Settings, caller: Caller) -> ChatStream:
    """Starts the upstream stream and waits for its first event, so early failures get a real HTTP status."""
    meter, call = await open_call(model, request, caller)
    events = model.stream(request)
    try:
        with anyio.fail_after(settings.upstream_timeout_s):
            first = await anext(events)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await events.aclose()
            await meter.close(call, Usage(), "error" if isinstance(exc, Exception) else "cancelled")
        if isinstance(exc, TimeoutError):
            raise deadline_error() from None
        if isinstance(exc, StopAsyncIteration):
            raise ProviderFailed("The model provider sent an empty answer.") from None
        raise
    return ChatStream(model.model_id, request, first, events, settings, meter, call)


class ChatStream:
    def __init__(
        self,
        model_id: str,
        request: ChatRequest,
        first,
        events: AsyncIterator,
        settings: Settings,
        meter: Meter,
        call: Call,
    ) -> None:
        self.model_id = model_id
        self.request = request
        self.first = first
        self.events = events
        self.deadline = anyio.current_time() + settings.stream_deadline_s
        self.meter = meter
        self.call = call

    async def ui_message_stream(self, encoder: UIMessageStream) -> AsyncIterator[bytes]:
        """Yields SSE bytes; a failure after the first byte becomes an `error` part. Settles in every case."""
        text: list[str] = []
        used: Usage | None = None
        status = "cancelled"
        try:
            yield encoder.start()
            event = self.first
            while isinstance(event, str):
                text.append(event)
                yield encoder.delta(event)
                if anyio.current_time() > self.deadline:  # a stall is bounded by the provider's idle timeout
                    raise TimeoutError
                event = await anext(self.events)
            reason = event.reason if isinstance(event, Finished) else "other"
            used = within_reservation(event.usage, self.request) if event.usage else await self.counted(text)
            status = "ok"
            yield encoder.finish(reason, self.usage_part(used))
        except (AirelayError, TimeoutError, StopAsyncIteration) as exc:
            error = stream_error(exc)
            status = "error"
            used = await self.counted(text)
            yield encoder.error(error.message, self.usage_part(used))
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()
                if used is None:
                    used = await self.counted(text)
                await self.meter.close(self.call, used, status)

    def usage_part(self, used: Usage) -> dict:
        return usage_data(self.model_id, used, self.meter.cost(self.call, used), self.meter)

    async def counted(self, text: list[str]) -> Usage:
        """Usage counted offline from what was sent and received (the provider reported none)."""
        return within_reservation(await estimate_async(self.request.messages, "".join(text), len(text)), self.request)


def stream_error(exc: BaseException) -> AirelayError:
    if isinstance(exc, AirelayError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout("The answer took longer than the server's deadline.")
    return ProviderFailed("The model provider's stream ended before the answer was finished.")
