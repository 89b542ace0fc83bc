"""The usage ledger port: atomic budget holds, settled spend, one row per AI call, daily totals.

Counters live per day under four kinds of key: TOTAL, "id:<identity>", "model:<model id>" and
"idmodel:<model id>|<identity>" (one caller's spend on one model, so callers can see their own usage by model). A
counter's `committed` is settled spend plus outstanding holds; `spent` is settled spend only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal

TOTAL = "total"


def identity_key(identity: str) -> str:
    return f"id:{identity}"


def model_key(model_id: str) -> str:
    return f"model:{model_id}"


def caller_model_key(identity: str, model_id: str) -> str:
    return f"idmodel:{model_id}|{identity}"


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation against one counter with a limit."""

    key: str
    limit: Decimal


@dataclass(slots=True)
class UsageRow:
    call_id: str
    request_id: str
    at: str  # ISO 8601 UTC
    day: str  # YYYY-MM-DD (UTC), the budget day the call was admitted on
    identity: str
    function: str
    provider: str
    model: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    latency_ms: int
    status: str  # ok | error | cancelled
    estimated: bool


@dataclass(slots=True)
class Totals:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    spent: Decimal = field(default_factory=Decimal)
    committed: Decimal = field(default_factory=Decimal)
    cancelled: int = 0  # calls the client walked away from; `errors` counts failed ones

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.cancelled += other.cancelled
        self.prompt_tokens += other.prompt_tokens
        self.cached_tokens += other.cached_tokens
        self.completion_tokens += other.completion_tokens
        self.spent += other.spent
        self.committed += other.committed


class OverLimit(Exception):
    """A hold did not fit: `committed` is what the counter held when it was refused."""

    def __init__(self, hold: Hold, committed: Decimal) -> None:
        super().__init__(hold.key)
        self.hold = hold
        self.committed = committed


def settle_keys(row: UsageRow) -> tuple[tuple[str, bool], ...]:
    """The counters a settled call adds to, each with whether reserve() held the call's amount on it."""
    return (
        (TOTAL, True),
        (identity_key(row.identity), True),
        (model_key(row.model), False),
        (caller_model_key(row.identity, row.model), False),
    )


class UsageLedger(ABC):
    """Blocking calls, safe to share between threads. The meter runs them in a worker thread when `remote` (a
    network round trip), and inline when they are quick local writes."""

    remote = True

    @abstractmethod
    def reserve(self, day: str, holds: list[Hold], amount: Decimal) -> None:
        """Adds `amount` to each held counter, all or nothing; raises OverLimit if one would pass its limit."""

    @abstractmethod
    def settle(self, row: UsageRow, reserved: Decimal) -> None:
        """Stores the row and adds its spend and tokens to the day's counters (settle_keys), releasing the `reserved`
        amount that reserve() added to TOTAL and identity."""

    @abstractmethod
    def day_totals(self, day: str) -> dict[str, Totals]:
        """Every counter of one day, by key."""

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        """day_totals() of each day, in order."""
        return [self.day_totals(day) for day in days]

    @abstractmethod
    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        """The day's call rows, newest first."""
