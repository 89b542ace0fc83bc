"""The limits one call is held against: the day's budget for everyone, and per identity its dollars per day,
requests per minute and tokens per minute. Anonymous visitors (identities of the VISITOR_KINDS) have limits of
their own; an identity is an opaque string whose kind is what comes before its first colon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..settings import Settings
from .ledger import REQUESTS, TOKENS, TOTAL, USD, Hold, identity_key, requests_key, tokens_key

GLOBAL, CALLER = "global", "caller"
REQUESTS_PER_MINUTE, TOKENS_PER_MINUTE = "requests_per_minute", "tokens_per_minute"


@dataclass(frozen=True, slots=True)
class Limits:
    usd_per_day: Decimal
    requests_per_minute: int = 0  # 0: not limited
    tokens_per_minute: int = 0


def parse_identity_budgets(text: str) -> dict[str, Decimal]:
    """`ip:203.0.113.7=5,key:abc123=20` -> {identity: daily limit in USD}."""
    limits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        identity, sep, amount = item.rpartition("=")
        if not sep or not identity:
            raise ValueError("IDENTITY_BUDGETS entries look like identity=USD, e.g. ip:203.0.113.7=5")
        limits[identity.strip()] = Decimal(amount.strip())
    return limits


def zip_limits(limits: Limits, given) -> list[tuple]:
    names = ("usd_per_day", "requests_per_minute", "tokens_per_minute")
    return [(getattr(limits, name), getattr(given, name)) for name in names]


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
        """The identity's limits; `given` (a visitor token's, any of them None) replaces the configured ones."""
        kind = identity.partition(":")[0]
        limits = self.visitor if kind in self.visitor_kinds else self.caller
        if identity in self.budgets:
            limits = Limits(self.budgets[identity], limits.requests_per_minute, limits.tokens_per_minute)
        if given is not None:
            limits = Limits(*(mine if theirs is None else theirs for mine, theirs in zip_limits(limits, given)))
        return limits

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
