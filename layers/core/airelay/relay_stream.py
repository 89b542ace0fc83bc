"""Runs one metered chat call as a stream (relay.py has what both kinds share): opened up to its first event, so
that early failures get a real HTTP status and a fallback; then its events encoded as they come, settled once."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import anyio

from .errors import AirelayError, ProviderFailed, ProviderTimeout, UnreadableAnswer
from .observability import log_failure
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
)
from .relay import FALLBACK_ON, Check, deadline_error, open_call, within_reservation
from .settings import Settings
from .streaming import UIMessageStream
from .tokens import estimate_request
from .usage import Caller
from .usage.meter import Call, Meter

log = logging.getLogger("airelay.relay")
Billed = Callable[[Usage, Decimal], None]  # told what a call that failed was billed: its usage and cost


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
            if isinstance(error, UnreadableAnswer) and error.usage is not None:
                used = within_reservation(error.usage, request)
            elif isinstance(error, ProviderTimeout | UnreadableAnswer) or not isinstance(exc, Exception):
                used = within_reservation(await estimate_request(request, "", model_id=model.model_id), request)
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
            log_failure(log, "the stream failed", exc)
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
        used = await estimate_request(self.request, "".join(spent), len(spent), model_id=self.model_id)
        return within_reservation(used, self.request)


def stream_error(exc: BaseException) -> AirelayError:
    if isinstance(exc, AirelayError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout("The answer took longer than the server's deadline.")
    return ProviderFailed("The model provider's stream ended before the answer was finished.")
