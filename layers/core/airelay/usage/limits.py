"""The limits one call is held against: the day's budget for everyone, and per identity its dollars per day,
requests per minute and tokens per minute. Anonymous visitors (identities of the VISITOR_KINDS) have limits of
their own; an identity is an opaque string whose kind is what comes before its first colon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..settings import Settings
from ..settings_checks import parse_identity_budgets  # IDENTITY_BUDGETS, checked at start with the rest
from .ledger import REQUESTS, TOKENS, TOTAL, USD, Hold, identity_key, requests_key, tokens_key

GLOBAL, CALLER = "global", "caller"
REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE = "requests_per_minute", "tokens_per_minute"


@dataclass(frozen=True, slots=True)
class Limits:
    usd_per_day: Decimal
    requests_per_minute: int = 0  # 0: not limited
    tokens_per_minute: int = 0


def lower(per_minute: int, given: int | None) -> int:
    if given is None:
        return per_minute
    return min(per_minute, given) if per_minute else given  # 0 configured: not limited, so any given one is lower


def tighter(limits: Limits, given) -> Limits:
    """A visitor token's limits (visitors.VisitorLimits, any of them None) where they are lower than `limits`: the
    app's backend can narrow what a visitor may do, never widen it."""
    usd = limits.usd_per_day if given.usd_per_day is None else min(limits.usd_per_day, given.usd_per_day)
    return Limits(
        usd,
        lower(limits.requests_per_minute, given.requests_per_minute),
        lower(limits.tokens_per_minute, given.tokens_per_minute),
    )


class LimitBook:
    def __init__(self, settings: Settings) -> None:
        self.daily = settings.daily_budget_usd
        self.visitor_kinds = frozenset(settings.visitor_kinds)
        self.visitor = Limits(
            min(settings.visitor_daily_budget_usd, settings.identity_daily_budget_usd),
            settings.visitor_requests_per_minute,
            settings.visitor_tokens_per_minute,
        )
        self.caller = Limits(
            settings.identity_daily_budget_usd, settings.requests_per_minute, settings.tokens_per_minute
        )
        self.budgets = parse_identity_budgets(settings.identity_budgets)

    def limits_for(self, identity: str, given=None) -> Limits:
        """The identity's limits; those `given` by its visitor token apply where lower (tighter)."""
        kind = identity.partition(":")[0]
        visitor = kind in self.visitor_kinds
        limits = self.visitor if visitor else self.caller
        budget = self.budgets.get(identity)
        if budget is None and visitor:  # `ip:<address>@<key id>`: an entry for the address behind any key
            budget = self.budgets.get(identity.rpartition("@")[0])
        if budget is not None:
            limits = Limits(budget, limits.requests_per_minute, limits.tokens_per_minute)
        return limits if given is None else tighter(limits, given)

    def holds(self, identity: str, now: datetime, usd: Decimal, tokens: int, given=None) -> list[Hold]:
        """What a call of at most `usd` and `tokens` holds: the day's budgets always (a free call holds 0, so that
        its settlement too is counted once), this minute's request and tokens only where limited."""
        day, minute = now.date().isoformat(), now.isoformat(timespec="minutes")[:16]
        limits = self.limits_for(identity, given)
        holds = [
            Hold(day, TOTAL, USD, usd, self.daily, GLOBAL),
            Hold(day, identity_key(identity), USD, usd, limits.usd_per_day, CALLER),
        ]
        if limits.requests_per_minute:
            rpm = Decimal(limits.requests_per_minute)
            holds.append(Hold(minute, requests_key(identity), REQUESTS, Decimal(1), rpm, REQUESTS_PER_MINUTE))
        if limits.tokens_per_minute and tokens:
            tpm = Decimal(limits.tokens_per_minute)
            holds.append(Hold(minute, tokens_key(identity), TOKENS, Decimal(tokens), tpm, TOKENS_PER_MINUTE))
        return holds
