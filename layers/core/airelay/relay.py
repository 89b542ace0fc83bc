"""Runs one metered chat call against a provider within the server's deadlines: buffered here, streamed in
relay_stream.py.

Every call reserves its worst case before the upstream request and settles exactly once afterwards, whether it
finished, failed or was cancelled by the client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import anyio

from . import usage
from .errors import (
    AirelayError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnreadableAnswer,
)
from .providers.base import (
    ChatModel,
    ChatRequest,
    ToolCall,
    Usage,
    upstream_retry_after,
)
from .settings import Settings
from .tokens import estimate_request, request_bound
from .usage import Caller
from .usage.meter import Call, Meter
from .usage.reported import within_bounds

log = logging.getLogger("airelay.relay")
Check = Callable[[str], None]  # refuses an answer's text by raising an AirelayError


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
        with anyio.fail_after(min(settings.upstream_timeout_s, usage.answer_deadline.get() - anyio.current_time())):
            completion = await model.complete(request)
        used = within_reservation(
            completion.finished.usage
            or await estimate_request(request, generated(completion), model_id=model.model_id),
            request,
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
    except UnreadableAnswer as exc:  # it has the prompt: what it reported, else the prompt estimated (below)
        status = "error"
        if exc.usage is not None:
            used, counted = within_reservation(exc.usage, request), True
        raise
    except Exception:
        status, counted = "error", True  # the provider answered with an error: it bills nothing for it
        raise
    finally:
        if status == "cancelled" and anyio.current_time() >= usage.answer_deadline.get():
            status = "error"
        with anyio.CancelScope(shield=True):
            if not counted:  # cut by the deadline or the client: the provider has the prompt, and may bill it
                used = within_reservation(await estimate_request(request, "", model_id=model.model_id), request)
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
    deadline = usage.answer_deadline.get()
    token = usage.answer_deadline.set(
        deadline if deadline < math.inf else anyio.current_time() + settings.upstream_timeout_s
    )
    try:
        for model in models[:-1]:
            try:
                return await complete(model, request, settings, caller, check)
            except FALLBACK_ON as exc:
                if anyio.current_time() >= usage.answer_deadline.get():
                    raise  # no time left for a fallback
                log.warning("model %s failed (%s); falling back", model.model_id, exc.code)
        return await complete(models[-1], request, settings, caller, check)
    finally:
        usage.answer_deadline.reset(token)
