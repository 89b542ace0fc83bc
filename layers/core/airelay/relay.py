"""Runs one metered chat call against a provider within the server's deadlines, buffered or streamed.

Every call reserves its worst case before the upstream request and settles exactly once afterwards, whether it
finished, failed or was cancelled by the client.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal

import anyio

from . import usage
from .errors import AirelayError, ProviderFailed, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from .providers.base import (
    ChatModel,
    ChatRequest,
    Finished,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    upstream_retry_after,
)
from .settings import Settings
from .streaming import UIMessageStream
from .tokens import estimate_request, request_bound
from .usage import Caller
from .usage.meter import Call, Meter
from .usage.reported import within_bounds

log = logging.getLogger("airelay.relay")
Check = Callable[[str], None]  # refuses an answer's text by raising an AirelayError
Billed = Callable[[Usage, Decimal], None]  # told what a call that failed was billed: its usage and cost


@dataclass(slots=True)
class Answer:
    model_id: str
    text: str
    reason: str
    usage: Usage
    cost_usd: Decimal
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning: str = ""
    refusal: str = ""  # the model declined (structured output): no text to check


# When the whole answer must be done (anyio time), set by a buffered answer (the chat's steps, the FAQ bot, else
# complete_any): a call that answer's deadline cuts failed (504), where one cancelled before it was left by its client.
answer_deadline: ContextVar[float] = ContextVar("answer_deadline", default=math.inf)


def deadline_error() -> AirelayError:
    """Our deadline ended the call: if the provider was rate limiting meanwhile, say so, with its Retry-After."""
    retry = upstream_retry_after.get()
    return ProviderRateLimited(retry_after=retry) if retry is not None else ProviderTimeout()


def generated(completion) -> str:
    """All the model wrote in a buffered answer, for an estimate: its text, reasoning, refusal and tool calls."""
    return (
        completion.text
        + completion.reasoning
        + completion.refusal
        + "".join(c.name + c.arguments for c in completion.tool_calls)
    )


def within_reservation(used: Usage, request: ChatRequest) -> Usage:
    """What a chat call is billed: never more tokens than its reservation counted (usage.reported.within_bounds)."""
    return within_bounds(used, request_bound(request), request.max_tokens)


async def open_call(model: ChatModel, request: ChatRequest, caller: Caller) -> tuple[Meter, Call]:
    upstream_retry_after.set(None)
    return await usage.opened(caller, model.model_id, request_bound(request), request.max_tokens)


async def complete(
    model: ChatModel, request: ChatRequest, settings: Settings, caller: Caller, check: Check | None = None
) -> Answer:
    """One metered call, within UPSTREAM_TIMEOUT_S and the answer's deadline. `check` may refuse the answer's text
    (raising), after its tokens are counted; an answer that calls tools, or a refusal, has no text to check."""
    meter, call = await open_call(model, request, caller)
    used, status, counted = Usage(), "cancelled", False
    try:
        with anyio.fail_after(min(settings.upstream_timeout_s, answer_deadline.get() - anyio.current_time())):
            completion = await model.complete(request)
        used = within_reservation(
            completion.finished.usage or await estimate_request(request, generated(completion)), request
        )
        counted = True
        if check is not None and not (completion.tool_calls or completion.refusal):  # not text in the format
            check(completion.text)
        status = "ok"
    except TimeoutError:
        status, error = "error", deadline_error()
        counted = isinstance(error, ProviderRateLimited)  # cut while the provider refused it: nothing to bill
        raise error from None
    except ProviderTimeout:
        status = "error"
        raise
    except Exception:
        status, counted = "error", True  # the provider answered with an error: it bills nothing for it
        raise
    finally:
        if status == "cancelled" and anyio.current_time() >= answer_deadline.get():
            status = "error"
        with anyio.CancelScope(shield=True):
            if not counted:  # cut by the deadline or the client: the provider has the prompt, and may bill it
                used = within_reservation(await estimate_request(request, ""), request)
            cost = await meter.close(call, used, status)
    return Answer(
        model.model_id,
        completion.text,
        completion.finished.reason,
        used,
        cost,
        tool_calls=completion.tool_calls,
        reasoning=completion.reasoning,
        refusal=completion.refusal,
    )


FALLBACK_ON = (ProviderRateLimited, ProviderFailed, ProviderUnavailable, ProviderTimeout)


async def complete_any(
    models: list[ChatModel], request: ChatRequest, settings: Settings, caller: Caller, check: Check | None = None
) -> Answer:
    """Tries the models in order; the next one only when the previous failed at the provider (each attempt is
    metered on its own), all within one deadline: the answer's (the buffered chat's steps), else UPSTREAM_TIMEOUT_S."""
    deadline = answer_deadline.get()
    token = answer_deadline.set(deadline if deadline < math.inf else anyio.current_time() + settings.upstream_timeout_s)
    try:
        for model in models[:-1]:
            try:
                return await complete(model, request, settings, caller, check)
            except FALLBACK_ON as exc:
                if anyio.current_time() >= answer_deadline.get():
                    raise  # no time left for a fallback
                log.warning("model %s failed (%s); falling back", model.model_id, exc.code)
        return await complete(models[-1], request, settings, caller, check)
    finally:
        answer_deadline.reset(token)


async def open_any_stream(
    models: list[ChatModel], request: ChatRequest, settings: Settings, caller: Caller
) -> ChatStream:
    """Like complete_any, up to the first token; after it, a failure is reported in the stream. The answer's
    STREAM_DEADLINE_S starts here: the waits for a first token count, each fallback's too."""
    deadline = time.monotonic() + settings.stream_deadline_s
    for model in models[:-1]:
        try:
            return await open_stream(model, request, settings, caller, deadline)
        except FALLBACK_ON as exc:
            log.warning("model %s failed before the first token (%s); falling back", model.model_id, exc.code)
    return await open_stream(models[-1], request, settings, caller, deadline)


async def open_stream(
    model: ChatModel,
    request: ChatRequest,
    settings: Settings,
    caller: Caller,
    deadline: float | None = None,
    billed: Billed | None = None,
) -> ChatStream:
    """Starts the upstream stream and waits for its first event, so early failures get a real HTTP status. `deadline`
    (time.monotonic()): when the whole answer must be done, STREAM_DEADLINE_S from now unless given. `billed`: told
    what the call was billed if it fails after its usage row was opened."""
    if deadline is None:
        deadline = time.monotonic() + settings.stream_deadline_s
    if time.monotonic() >= deadline:
        raise ProviderTimeout("The answer took longer than the server's deadline.")
    meter, call = await open_call(model, request, caller)
    events = model.stream(request)
    try:
        with anyio.fail_after(min(settings.upstream_timeout_s, deadline - time.monotonic())):
            first = await anext(events)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await events.aclose()
            error = deadline_error() if isinstance(exc, TimeoutError) else exc
            used = Usage()  # the provider answered with an error, nothing, or 429s until the deadline: no bill
            if isinstance(error, ProviderTimeout) or not isinstance(exc, Exception):  # it has the prompt
                used = within_reservation(await estimate_request(request, ""), request)
            cost = await meter.close(call, used, "error" if isinstance(exc, Exception) else "cancelled")
            if billed is not None:
                billed(used, cost)
        if isinstance(exc, TimeoutError):
            raise error from None
        if isinstance(exc, StopAsyncIteration):
            raise ProviderFailed("The model provider sent an empty answer.") from None
        raise
    return ChatStream(model, request, first, events, settings, meter, call, deadline)


@dataclass(slots=True)
class Step:
    """What one upstream call of a streamed answer produced, and what it cost."""

    answer: list[str] = field(default_factory=list)  # the text for the user
    spent: list[str] = field(default_factory=list)  # everything generated: text, reasoning, tool arguments
    names: dict[str, str] = field(default_factory=dict)
    calls: list[ToolCall] = field(default_factory=list)
    refused: bool = False  # the model declined (a refusal part): no text to check
    reason: str = "other"
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    error: AirelayError | None = None


class ChatStream:
    """One metered upstream call, started (its first event read), to be encoded by `parts` or closed unread."""

    def __init__(
        self,
        model: ChatModel,
        request: ChatRequest,
        first,
        events: AsyncIterator,
        settings: Settings,
        meter: Meter,
        call: Call,
        deadline: float,
    ) -> None:
        self.model = model
        self.model_id = model.model_id
        self.request = request
        self.first = first
        self.events = events
        self.deadline = deadline  # time.monotonic(), asyncio's clock, looked up for every event
        self.idle_timeout_s = settings.stream_idle_timeout_s
        self.meter = meter
        self.call = call
        self.settled = False
        self.step: Step | None = None  # the step `parts` is reading: what an abandoned call is billed from

    async def parts(self, encoder: UIMessageStream, step: Step, check: Check | None = None) -> AsyncIterator[bytes]:
        """Yields this call's SSE parts; a failure ends them and is kept in `step.error`. Settles in every case. `check`
        may refuse the whole answer's text at the end (raising): the call then settles as an error, its tokens
        counted."""
        status = "cancelled"
        counted = False
        self.step = step
        try:
            event = self.first
            while not isinstance(event, Finished):
                kind = type(event)
                if kind is TextDelta:
                    step.answer.append(event.text)
                    step.spent.append(event.text)
                    yield encoder.delta(event.text)
                elif kind is ReasoningDelta:
                    step.spent.append(event.text)
                    yield encoder.reasoning(event.text)
                elif kind is RefusalDelta:
                    step.spent.append(event.text)
                    step.refused = True
                    yield encoder.refusal(event.text)
                elif kind is ToolCallStart:
                    step.names[event.id] = event.name
                    yield encoder.tool_start(event.id, event.name)
                elif kind is ToolCallDelta:
                    step.spent.append(event.fragment)
                    yield encoder.tool_delta(event.id, event.fragment)
                elif kind is ToolCallEnd:
                    step.calls.append(ToolCall(event.id, step.names.get(event.id, ""), event.arguments))
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                if left < self.idle_timeout_s:  # else the provider's idle timeout ends a stall before the deadline
                    with anyio.fail_after(left):
                        event = await anext(self.events)
                else:
                    event = await anext(self.events)
            step.reason = event.reason
            step.usage = within_reservation(event.usage, self.request) if event.usage else await self.counted(step)
            counted = True
            if check is not None and not (step.calls or step.refused):
                check("".join(step.answer))
            status = "ok"
        except (AirelayError, TimeoutError, StopAsyncIteration) as exc:
            step.error = stream_error(exc)
            status = "error"
        except Exception as exc:  # a fault of this server: the client still gets an error part, never a cut stream
            log.exception("the stream failed: %s", type(exc).__name__)
            step.error = stream_error(exc)
            status = "error"
        finally:
            with anyio.CancelScope(shield=True):
                if not self.settled:  # else abandoned (its client left) with what this step had read
                    if not counted:
                        step.usage = await self.counted(step)
                    step.cost = await self.close(step.usage, status)

    async def close(self, used: Usage, status: str = "cancelled") -> Decimal:
        """Closes the upstream and settles the call, once."""
        if self.settled:
            return Decimal(0)
        self.settled = True
        with anyio.CancelScope(shield=True):
            await self.events.aclose()
            return await self.meter.close(self.call, used, status)

    async def abandon(self) -> None:
        """Settles a call whose answer was not read to its end (the client left first), if nothing settled it yet:
        cancelled, the tokens counted from what was sent and received."""
        if not self.settled:
            await self.close(await self.counted(self.step or Step()), "cancelled")

    async def counted(self, step: Step) -> Usage:
        """Usage counted offline from what was sent and received (the provider reported none)."""
        spent = step.spent
        return within_reservation(await estimate_request(self.request, "".join(spent), len(spent)), self.request)


def stream_error(exc: BaseException) -> AirelayError:
    if isinstance(exc, AirelayError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout("The answer took longer than the server's deadline.")
    return ProviderFailed("The model provider's stream ended before the answer was finished.")
