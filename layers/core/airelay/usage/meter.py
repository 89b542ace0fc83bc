"""Meters every AI call: reserves its worst case against the daily budgets, then settles what it really cost."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import anyio

from ..errors import BudgetExceeded, ProviderUnavailable
from ..observability import record_call
from ..providers.base import Usage
from ..settings import Settings
from .ledger import TOTAL, Hold, OverLimit, UsageLedger, UsageRow, identity_key
from .pricing import Price, PriceBook

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
    reserved: Decimal
    started: float


def seconds_until_reset(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def parse_identity_budgets(text: str) -> dict[str, Decimal]:
    """`ip:203.0.113.7=5,key:abc123=20` -> {identity: daily limit in USD}."""
    limits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        identity, sep, amount = item.rpartition("=")
        if not sep or not identity:
            raise ValueError("IDENTITY_BUDGETS entries look like identity=USD, e.g. ip:203.0.113.7=5")
        limits[identity.strip()] = Decimal(amount.strip())
    return limits


class Meter:
    def __init__(self, ledger: UsageLedger, prices: PriceBook, settings: Settings) -> None:
        self.ledger = ledger
        self.prices = prices
        self.daily_limit = settings.daily_budget_usd
        self.identity_limit = settings.identity_daily_budget_usd
        self.identity_limits = parse_identity_budgets(settings.identity_budgets)
        self.krw_rate = settings.usd_krw_rate
        self.metrics_namespace = settings.metrics_namespace

    async def run(self, method, *args):
        if self.ledger.remote:
            return await anyio.to_thread.run_sync(method, *args)
        return method(*args)

    def limit_for(self, identity: str) -> Decimal:
        return self.identity_limits.get(identity, self.identity_limit)

    async def open(
        self,
        *,
        request_id: str,
        identity: str,
        function: str,
        model_id: str,
        prompt_tokens: int = 0,
        max_tokens: int = 0,
    ) -> Call:
        """Reserves the call's worst case on today's global and identity budgets (free models reserve nothing)."""
        price = self.prices.price(model_id)
        now = datetime.now(UTC)
        day = now.date().isoformat()
        amount = Decimal(0) if price.free else price.worst_case(prompt_tokens, max_tokens)
        if amount:
            holds = [Hold(TOTAL, self.daily_limit), Hold(identity_key(identity), self.limit_for(identity))]
            try:
                await self.run(self.ledger.reserve, day, holds, amount)
            except OverLimit as over:
                own = over.hold.key != TOTAL
                which = "your daily budget" if own else "today's budget for all callers"
                raise BudgetExceeded(
                    f"This request would exceed {which}.",
                    retry_after=seconds_until_reset(now),
                    budget="caller" if own else "global",
                    limit=over.hold.limit,
                    used=over.committed,
                ) from None
            except Exception:
                log.exception("usage ledger unavailable at reserve")
                raise ProviderUnavailable("Usage accounting is unavailable; try again shortly.") from None
        return Call(uuid.uuid4().hex, request_id, identity, function, model_id, price, day, amount, time.monotonic())

    def cost(self, call: Call, usage: Usage) -> Decimal:
        return call.price.cost(usage)

    def krw(self, usd: Decimal) -> Decimal:
        return (usd * self.krw_rate).quantize(Decimal("0.01"))

    async def close(self, call: Call, usage: Usage, status: str) -> Decimal:
        """Settles the call: stores its row, adds its real cost, releases the rest of the hold. Never raises."""
        cost = self.cost(call, usage)
        row = UsageRow(
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
            cost_usd=cost,
            latency_ms=int((time.monotonic() - call.started) * 1000),
            status=status,
            estimated=usage.estimated,
        )
        with anyio.CancelScope(shield=True):
            try:
                await self.run(self.ledger.settle, row, call.reserved)
            except Exception:
                log.exception("usage ledger unavailable at settle", extra={"request_id": call.request_id})
        record_call(row, self.metrics_namespace)
        return cost
