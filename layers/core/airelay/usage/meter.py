"""Meters every AI call: reserves its worst case against every limit, then settles what it really used."""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anyio

from ..errors import AirelayError, BudgetExceeded, ProviderUnavailable, RateLimitExceeded
from ..observability import record_call
from ..providers.base import Usage
from ..settings import Settings
from .ledger import Hold, OverLimit, UsageLedger, UsageRow
from .limits import CALLER, GLOBAL, REQUESTS_PER_MINUTE, LimitBook
from .pending import PendingSettles
from .pricing import Price, PriceBook
from .reported import billable

log = logging.getLogger("airelay.usage")


@dataclass(slots=True)
class Call:
    call_id: str
    request_id: str
    identity: str
    function: str
    model_id: str
    price: Price
    day: str
    holds: list[Hold]
    started: float


def seconds_until_reset(now: datetime) -> int:
    """Whole seconds to the next UTC midnight, rounded up: a client that waits them comes back on the new day."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def seconds_until_next_minute(now: datetime) -> int:
    return max(1, 60 - now.second)


def refusal(over: OverLimit, now: datetime) -> AirelayError:
    """The 429 for a hold that did not fit: which limit, and when it resets."""
    hold = over.hold
    if hold.name in (GLOBAL, CALLER):
        which = "today's budget for all callers" if hold.name == GLOBAL else "your daily budget"
        return BudgetExceeded(
            f"This request would exceed {which}.",
            retry_after=seconds_until_reset(now),
            budget=hold.name,
            limit=hold.limit,
            used=over.committed,
        )
    what = "requests" if hold.name == REQUESTS_PER_MINUTE else "tokens"
    if hold.amount > hold.limit:  # no minute has room for it
        return RateLimitExceeded(
            f"This request alone is more than your {what} per minute ({hold.amount} against {hold.limit}); "
            + (
                "lower max_tokens, send fewer images or shorten the conversation."
                if what == "tokens"
                else "no request can be made."
            ),
            retry_after=None,
            rate=hold.name,
            limit=hold.limit,
            used=over.committed,
        )
    return RateLimitExceeded(
        f"This request would exceed your {what} per minute.",
        retry_after=seconds_until_next_minute(now),
        rate=hold.name,
        limit=hold.limit,
        used=over.committed,
    )


class FullMinutes:
    """The requests-per-minute counters found full this minute, in this process: a caller refused by one is refused
    again without a reservation until the minute ends (only the refusal is counted), so that a flood of refused calls
    costs one ledger write each. A full counter stays full: requests are never given back within their minute (only
    a reservation that failed half-way is taken back, and then this errs on the side of refusing)."""

    MAX_COUNTERS = 10_000  # callers remembered per minute; beyond them, refusals go to the ledger as before

    def __init__(self) -> None:
        self.minute = ""
        self.counters: dict[tuple[str, Decimal], Decimal] = {}

    def check(self, holds: list[Hold]) -> None:
        for hold in holds:
            if hold.name == REQUESTS_PER_MINUTE and hold.period == self.minute:
                used = self.counters.get((hold.key, hold.limit))
                if used is not None:
                    raise OverLimit(hold, used)

    def note(self, over: OverLimit) -> None:
        hold = over.hold
        if hold.name != REQUESTS_PER_MINUTE:
            return
        if hold.period != self.minute:
            self.minute, self.counters = hold.period, {}
        if len(self.counters) < self.MAX_COUNTERS:
            self.counters[(hold.key, hold.limit)] = over.committed


class Meter:
    def __init__(self, ledger: UsageLedger, prices: PriceBook, settings: Settings) -> None:
        self.ledger = ledger
        self.prices = prices
        self.limits = LimitBook(settings)
        self.daily_limit = settings.daily_budget_usd
        self.krw_rate = settings.usd_krw_rate
        self.metrics_namespace = settings.metrics_namespace
        self.full = FullMinutes()
        self.pending = PendingSettles()

    async def run(self, method, *args):
        if self.ledger.remote:
            return await anyio.to_thread.run_sync(method, *args)
        return method(*args)

    def limit_for(self, identity: str, given=None) -> Decimal:
        return self.limits.limits_for(identity, given).usd_per_day

    async def open(
        self,
        *,
        request_id: str,
        identity: str,
        function: str,
        model_id: str,
        prompt_tokens: int = 0,
        max_tokens: int = 0,
        limits=None,
    ) -> Call:
        """Reserves the call's worst case on every limit at once: today's global and identity budgets (free models
        hold nothing there), this minute's requests and tokens of the identity."""
        price = self.prices.price(model_id)
        try:
            await self.settle_pending()
        except Exception:
            log.exception("usage ledger unavailable at reserve")
            raise ProviderUnavailable("Usage accounting is unavailable; try again shortly.") from None
        now = datetime.now(UTC)  # after the settlements, which may take seconds: the call counts when it is held
        amount = Decimal(0) if price.free else price.worst_case(prompt_tokens, max_tokens)
        call_id = secrets.token_hex(16)
        holds = self.limits.holds(identity, now, amount, prompt_tokens + max_tokens, limits)
        try:
            self.full.check(holds)
            await self.run(self.ledger.reserve, call_id, holds)
        except OverLimit as over:
            self.full.note(over)
            await self.count_refusal(now.date().isoformat(), identity)
            raise refusal(over, now) from None
        except Exception:
            log.exception("usage ledger unavailable at reserve")
            raise ProviderUnavailable("Usage accounting is unavailable; try again shortly.") from None
        day = now.date().isoformat()
        return Call(call_id, request_id, identity, function, model_id, price, day, holds, time.monotonic())

    async def admit(self, identity: str, limits=None) -> None:
        """Refuses at once (429) a caller that this environment saw over its requests per minute in this minute,
        before any work is done for it (a URL fetched); in memory, no ledger read. The call's own reservation
        decides the rest, so at most one request a minute per environment gets that far over the limit."""
        now = datetime.now(UTC)
        try:
            self.full.check(self.limits.holds(identity, now, Decimal(0), 0, limits))
        except OverLimit as over:
            await self.count_refusal(now.date().isoformat(), identity)
            raise refusal(over, now) from None

    async def settle_pending(self) -> None:
        """Settles again the calls whose settlement failed, when due (their holds free room for this one); while too
        many wait, the ledger counts as unavailable."""
        if self.pending.due():
            await self.run(self.pending.retry, self.ledger)
        if self.pending.full:
            raise RuntimeError(f"{len(self.pending)} calls wait to be settled")

    async def count_refusal(self, day: str, identity: str) -> None:
        """For the dashboard's refusals; the refusal is answered even if this write fails."""
        try:
            await self.run(self.ledger.count_refusal, day, identity)
        except Exception:
            log.exception("usage ledger unavailable counting a refusal")

    def krw(self, usd: Decimal) -> Decimal:
        return (usd * self.krw_rate).quantize(Decimal("0.01"))

    async def close(self, call: Call, usage: Usage, status: str) -> Decimal:
        """Settles the call: stores its row, adds its real cost, releases the rest of the hold. Never raises: a
        settlement that fails is kept and tried again before a later call (usage.pending). The reported counts are
        billed as whole non-negative numbers, whatever the upstream sent."""
        with anyio.CancelScope(shield=True):
            row = self.settled_row(call, billable(usage), status)
            try:
                await self.run(self.ledger.settle, row, call.holds)
            except Exception:
                log.exception(
                    "usage ledger unavailable at settle; kept to settle again", extra={"request_id": call.request_id}
                )
                self.pending.add(row, call.holds)
        record_call(row, self.metrics_namespace)
        return row.cost_usd

    def settled_row(self, call: Call, usage: Usage, status: str) -> UsageRow:
        return UsageRow(
            call_id=call.call_id,
            request_id=call.request_id,
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            day=call.day,
            identity=call.identity,
            function=call.function,
            provider=call.model_id.split("/", 1)[0],
            model=call.model_id,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=call.price.cost(usage),
            latency_ms=int((time.monotonic() - call.started) * 1000),
            status=status,
            estimated=usage.estimated,
        )
