"""The usage ledger port: atomic holds against limits, settled spend, one row per AI call, daily totals.

Counters live per period: a day ("2026-12-04") or a minute ("2026-12-04T10:05"). Day counters have four kinds of
key: TOTAL, "id:<identity>", "model:<model id>" and "idmodel:<model id>|<identity>" (one caller's spend on one
model). Minute counters count one identity's requests ("rpm:<identity>") and tokens ("tpm:<identity>"). A counter's
`committed` is what is settled plus what outstanding holds reserve; `spent` is settled spend only.

Every call is admitted by one reserve() and closed by one settle(), both keyed by its call id and both idempotent:
repeating either (a retried write whose first attempt landed, or the whole call again) changes nothing. (A reserve
repeated after its call settled is not: the meter settles a call only after its reserve, retries included, has
returned.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from decimal import Decimal

TOTAL = "total"
USD, REQUESTS, TOKENS = "usd", "requests", "tokens"  # what a hold counts


def identity_key(identity: str) -> str:
    return f"id:{identity}"


def model_key(model_id: str) -> str:
    return f"model:{model_id}"


def caller_model_key(identity: str, model_id: str) -> str:
    return f"idmodel:{model_id}|{identity}"


def model_and_caller(key: str) -> tuple[str, str]:
    """The model id and the identity of a caller_model_key, cut at the first "|": a model id never has one, an
    identity may ("user:auth0|5f7c...")."""
    model_id, _, identity = key.removeprefix("idmodel:").partition("|")
    return model_id, identity


def requests_key(identity: str) -> str:
    return f"rpm:{identity}"


def tokens_key(identity: str) -> str:
    return f"tpm:{identity}"


@dataclass(frozen=True, slots=True)
class Hold:
    """What one call reserves on one counter until it settles: `amount` of `measure`, refused if the counter would
    pass `limit` (None: counted, never refused). `name` says which limit it is, for the refusal."""

    period: str
    key: str
    measure: str
    amount: Decimal
    limit: Decimal | None
    name: str = ""


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

    @property
    def counted_tokens(self) -> int:
        """What the call counts against tokens per minute: cached prompt tokens are not."""
        return self.prompt_tokens - self.cached_tokens + self.completion_tokens


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
    refused: int = 0  # calls a limit refused before the model was called (not in `calls`)

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.refused += other.refused
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


def settled_amount(hold: Hold, row: UsageRow) -> Decimal:
    """What the call really used of what the hold reserved."""
    if hold.measure == USD:
        return row.cost_usd
    if hold.measure == TOKENS:
        return Decimal(row.counted_tokens)
    return hold.amount  # a request counts once, settled or not


def settle_keys(row: UsageRow) -> tuple[str, ...]:
    """The day counters a settled call adds its spend and tokens to."""
    return TOTAL, identity_key(row.identity), model_key(row.model), caller_model_key(row.identity, row.model)


class UsageLedger(ABC):
    """Blocking calls, safe to share between threads. The meter runs them in a worker thread when `remote` (a
    network round trip), and inline when they are quick local writes."""

    remote = True

    @abstractmethod
    def reserve(self, call_id: str, holds: list[Hold]) -> None:
        """Adds each hold's amount to its counter, all or nothing; raises OverLimit if one would pass its limit.
        Reserving the same call id again, before it settles, changes nothing."""

    @abstractmethod
    def settle(self, row: UsageRow, holds: list[Hold] = ()) -> None:
        """Stores the row and adds its spend and tokens to the day's counters (settle_keys); each hold that
        reserve() took for the call is trued up to what the call used (settled_amount). Settling the same call id
        again changes nothing."""

    @abstractmethod
    def count_refusal(self, day: str, identity: str) -> None:
        """Adds one to the identity's refused calls of the day (a limit refused it; nothing was reserved)."""

    @abstractmethod
    def day_totals(self, day: str) -> dict[str, Totals]:
        """Every counter of one day, by key."""

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        """day_totals() of each day, in order."""
        return [self.day_totals(day) for day in days]

    @abstractmethod
    def caller_totals(self, identity: str, days: list[str]) -> list[dict[str, Totals]]:
        """One identity's counters of each day, in order: "id:<identity>" and "idmodel:<model id>|<identity>", by
        key, read without reading any other caller's."""

    @abstractmethod
    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        """The day's call rows, newest first."""

    @abstractmethod
    def committed(self, period: str, key: str) -> Decimal:
        """What one counter holds now (settled plus outstanding holds), 0 if nothing was counted."""
