"""Usage and cost: every AI call's tokens and cost, and the daily budgets."""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import anyio

from .. import aws
from ..errors import AirelayError, ProviderTimeout
from ..providers.base import Usage
from ..settings import Settings, get_settings
from .ledger import UsageLedger
from .meter import Call, Meter
from .pricing import load_prices
from .reported import billable, within_bounds

# When the whole answer (or the tool making the call) must be done, anyio time: set by a buffered answer (the chat's
# steps, the FAQ bot, else relay.complete_any), a stream's tool runs and each tool. A call cut at or after it was cut
# by this server (an error, 504), where one cancelled before it was left by its client.
answer_deadline: ContextVar[float] = ContextVar("answer_deadline", default=math.inf)

_meter: Meter | None = None
_meter_lock = threading.Lock()  # functions served side by side locally may ask for it at the same moment

if get_settings().usage_table:  # every function meters or reads usage: its DynamoDB client is made at INIT
    aws.prepare("dynamodb")
    from . import dynamodb  # noqa: F401


def open_ledger(settings: Settings) -> UsageLedger:
    """DynamoDB when USAGE_TABLE names a table (on AWS), with budget leases if BUDGET_LEASES, else the SQLite file
    (local)."""
    if settings.usage_table and settings.budget_leases:
        from .dynamodb_leases import DynamoLeases
        from .leases import LeasedLedger

        store = DynamoLeases(settings.usage_table, aws.clients(), settings.usage_retention_days, settings.usage_shards)
        return LeasedLedger(store, settings.lease_seconds)
    if settings.usage_table:
        from .dynamodb import DynamoLedger

        return DynamoLedger(settings.usage_table, aws.clients(), settings.usage_retention_days, settings.usage_shards)
    from .sqlite import SqliteLedger

    return SqliteLedger(settings.usage_db_path, settings.usage_retention_days)


def get_meter(settings: Settings | None = None) -> Meter:
    """The container's meter, created at first use; refuses to start if a configured chat model has no price."""
    global _meter
    with _meter_lock:
        if _meter is None:
            settings = settings or get_settings()
            prices = load_prices(settings.model_prices)
            prices.check((*settings.chat_models, *settings.chat_fallback_models))
            _meter = Meter(open_ledger(settings), prices, settings)
        return _meter


async def meter() -> Meter:
    """get_meter() from async code: the first call opens the ledger in a worker thread."""
    if _meter is not None:
        return _meter
    import anyio

    return await anyio.to_thread.run_sync(get_meter)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a call and through which function: what every usage row is filed under (web.caller_of makes it
    for a request)."""

    request_id: str
    identity: str
    function: str
    limits: object = None  # a visitor token's own limits (visitors.VisitorLimits), over the configured ones


@dataclass(slots=True)
class Reading:
    """Where a metered block puts what the provider reported, and what the call is billed if it is cut before any
    report (cancelled, or past its deadline): the provider has its input, and may bill it."""

    usage: Usage | None = None
    if_cut: Callable[[], Awaitable[Usage]] | None = None


async def admit(caller: Caller) -> None:
    """Before work done for a caller ahead of its metered call (fetching its URLs): a 429 if this environment already
    saw it over its requests per minute in this minute (Meter.admit)."""
    await (await meter()).admit(caller.identity, caller.limits)


async def record_failed(caller: Caller, model_id: str) -> None:
    """A request refused for its input after work was done for it (its URLs fetched): a failed call of no tokens with
    its own row, so that it counts against the caller's limits like any other; over them, the caller gets the 429."""
    meter_, call = await opened(caller, model_id)
    await meter_.close(call, Usage(), "error")


async def opened(caller: Caller, model_id: str, prompt_tokens: int = 0, max_tokens: int = 0) -> tuple[Meter, Call]:
    """A call of `caller` held on every limit (Meter.open), and the meter that settles it."""
    meter_ = await meter()
    call = await meter_.open(
        request_id=caller.request_id,
        identity=caller.identity,
        function=caller.function,
        model_id=model_id,
        limits=caller.limits,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
    )
    return meter_, call


@asynccontextmanager
async def metered(caller, model_id: str, prompt_tokens: int = 0, max_tokens: int = 0):
    """Meters one AI call that is not a chat stream (embeddings, classifiers): reserve, run, settle once.

        async with usage.metered(caller, embedder.model_id, prompt_tokens=bound) as reading:
            result = await embedder.embed(texts)
            reading.usage = result.usage

    An AirelayError carrying `usage` (tokens spent on an answer that was then refused) is settled with those tokens.
    No more tokens are billed than the call was opened with (`prompt_tokens`, `max_tokens`): what it held.
    """
    meter_, call = await opened(caller, model_id, prompt_tokens, max_tokens)
    reading, status, cut = Reading(), "cancelled", True
    try:
        yield reading
        status, cut = "ok", False
    except Exception as exc:
        status, cut = "error", isinstance(exc, ProviderTimeout)
        reading.usage = reading.usage or (exc.usage if isinstance(exc, AirelayError) else None)
        raise
    finally:
        if status == "cancelled" and anyio.current_time() >= answer_deadline.get():
            status = "error"  # cut by this server's deadline, not left by its client
        if cut and reading.usage is None and reading.if_cut is not None:
            with anyio.CancelScope(shield=True):
                reading.usage = await reading.if_cut()
        used = within_bounds(billable(reading.usage or Usage()), prompt_tokens, max_tokens)
        await meter_.close(call, used, status)


__all__ = [
    "Call",
    "Caller",
    "Meter",
    "Reading",
    "admit",
    "get_meter",
    "meter",
    "metered",
    "open_ledger",
    "record_failed",
]
