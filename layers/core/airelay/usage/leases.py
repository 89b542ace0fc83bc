"""Budget leases: an execution environment takes a slice of a busy budget with one conditional write, then holds
its calls against that slice in memory, and gives back what it did not use when the lease ends.

The promise stays the one of `UsageLedger.reserve`: a slice is granted only if the counter's `committed` plus the
slice stays within the limit, a call is admitted only if its worst case fits in a slice, and a slice's unused part
goes back at most once. The lease record's `drawn` is how much of the slice the holder may have handed out; a
holder that dies keeps `drawn` counted and its lease's undrawn part comes back when a sweep finds it expired.

Keys an environment sees rarely (a caller making one call now and then) are held directly on their counter, as
without leases: a lease there would cost more writes than it saves.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from abc import abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from .ledger import TOTAL, Hold, OverLimit, Totals, UsageLedger, UsageRow, settle_keys


@dataclass(slots=True)
class Lease:
    lease_id: str
    day: str
    key: str
    size: Decimal
    ends: float  # epoch seconds; after it a sweep may take the undrawn part back
    drawn: Decimal
    used: Decimal = Decimal(0)  # settled spend plus open holds
    holds: Counter = field(default_factory=Counter)  # open holds by amount
    closing: bool = False  # admits no more calls; given back when its last hold settles
    lost: bool = False  # a sweep took it back: only the drawn part may still be used


class LeaseStore(UsageLedger):
    """A ledger whose counters can also be leased. `settle(row, reserved, leased)` adds only the spend to the held
    keys named in `leased`: their amount came from a lease, which settles its whole slice when it is given back."""

    @abstractmethod
    def settle(self, row: UsageRow, reserved: Decimal, leased: frozenset[str] = frozenset()) -> None: ...

    @abstractmethod
    def grant(self, lease: Lease, limit: Decimal, now: float) -> Decimal:
        """Adds `lease.size` to the counter if it stays within `limit` and records the lease; returns the counter's
        `committed` after it, or raises OverLimit."""

    @abstractmethod
    def top_up(self, lease: Lease, extra: Decimal, limit: Decimal) -> Decimal | None:
        """Adds `extra` to the counter within `limit` and to the lease's size; returns `committed` after it, None if
        a sweep has taken the lease back (nothing added then), or raises OverLimit."""

    @abstractmethod
    def draw(self, lease: Lease, drawn: Decimal) -> bool:
        """Raises the lease's recorded `drawn`; False if a sweep has taken the lease back."""

    @abstractmethod
    def give_back(self, lease: Lease) -> Decimal:
        """Deletes the lease's record and releases what it did not use (`size - used`); if a sweep deleted the record
        first, having released `size - drawn`, releases the rest (`drawn - used`). Returns the amount released."""

    @abstractmethod
    def sweep(self, day: str, now: float, shards: int | None = None, rng=random) -> Decimal:
        """Closes the day's leases that ended before `now` and releases their undrawn part; returns the amount. With
        `shards`, looks at that many of the lease partitions, picked by `rng`."""


@dataclass(slots=True)
class Demand:
    """What this environment held on one key lately: exponentially decaying sums of calls and amounts."""

    calls: float = 0.0
    amount: float = 0.0
    first: float | None = None
    at: float = 0.0

    def add(self, amount: Decimal, now: float, half_life: float) -> None:
        if self.first is None:
            self.first = now
        decay = 0.5 ** ((now - self.at) / half_life)
        self.calls = self.calls * decay + 1
        self.amount = self.amount * decay + float(amount)
        self.at = now

    def per_second(self, half_life: float) -> float:
        """The amount held per second: the decayed sum over the time it spans (about 1.44 half-lives at most)."""
        return self.amount / max(0.5, min(self.at - self.first, half_life / math.log(2)))


class LeasedLedger(UsageLedger):
    """Holds calls against leased slices of the budgets this environment uses often."""

    remote = True

    def __init__(
        self, store: LeaseStore, lease_seconds: float = 30.0, clock=time.time, rng: random.Random | None = None
    ) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], Lease] = {}  # the lease that admits calls, by (day, key)
        self._closing: list[Lease] = []
        self._demand: dict[tuple[str, str], Demand] = {}
        self._room: dict[tuple[str, str], Decimal] = {}  # the limit less `committed`, as the last grant saw it
        self._refused: dict[tuple[str, str], tuple[float, Decimal]] = {}  # until when, and the room then seen
        self._swept = -math.inf

    def reserve(self, day: str, holds: list[Hold], amount: Decimal) -> None:
        with self._lock:
            now = self.clock()
            taken, direct = [], []
            try:
                for hold in holds:
                    lease = self._lease_for(day, hold, amount, now)
                    if lease is None:
                        direct.append(hold)
                        continue
                    lease.used += amount
                    lease.holds[amount] += 1
                    taken.append(lease)
                if direct:
                    self._reserve_directly(day, direct, amount, now)
            except BaseException:
                for lease in taken:
                    self._release(lease, amount, Decimal(0))
                raise

    def _reserve_directly(self, day: str, holds: list[Hold], amount: Decimal, now: float) -> None:
        for hold in holds:
            self._check_refusal(day, hold, amount, now)
        try:
            self.store.reserve(day, holds, amount)
        except OverLimit as over:
            self._refuse_for_a_while(day, over.hold.key, over.hold.limit - over.committed, now)
            raise

    def _check_refusal(self, day: str, hold: Hold, amount: Decimal, now: float) -> None:
        """A counter that refused this environment a moment ago is not asked again for more than it had room for:
        an exhausted budget would otherwise take a refused write per call."""
        until, room = self._refused.get((day, hold.key), (-math.inf, hold.limit))
        if now < until and amount > room:
            raise OverLimit(hold, hold.limit - room)

    def _refuse_for_a_while(self, day: str, key: str, room: Decimal, now: float) -> None:
        self._refused[(day, key)] = (now + self.rng.uniform(self.lease_seconds / 8, self.lease_seconds / 4), room)

    def settle(self, row: UsageRow, reserved: Decimal) -> None:
        leased, done = set(), []
        with self._lock:
            for key, was_held in settle_keys(row):
                lease = was_held and reserved and self._holding(row.day, key, reserved)
                if lease:
                    leased.add(key)
                    self._release(lease, reserved, row.cost_usd)
                    if self._finished(lease):
                        done.append(lease)
        try:
            self.store.settle(row, reserved, frozenset(leased))
        finally:
            for lease in done:
                self.store.give_back(lease)

    def day_totals(self, day: str) -> dict[str, Totals]:
        return self.store.day_totals(day)

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        return self.store.totals_for_days(days)

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        return self.store.rows(day, limit)

    def give_back_all(self) -> None:
        """Ends every lease with no open call (at shutdown)."""
        with self._lock:
            for lease in self._open.values():
                lease.closing = True
                self._closing.append(lease)
            self._open.clear()
            done = [lease for lease in self._closing if self._finished(lease)]
        for lease in done:
            self.store.give_back(lease)

    def _lease_for(self, day: str, hold: Hold, amount: Decimal, now: float) -> Lease | None:
        """The lease to hold `amount` on, taking one if needed; None when the key is better held directly: a
        caller's budget this environment held fewer than three times lately (the global one is always busy)."""
        demand = self._demand.setdefault((day, hold.key), Demand())
        demand.add(amount, now, self.lease_seconds / 2)
        lease = self._open.get((day, hold.key))
        if lease is not None and self._fits(lease, amount, now):
            return lease
        if lease is None and demand.calls < 3 and hold.key != TOTAL:
            return None
        wanted = Decimal(str(demand.per_second(self.lease_seconds / 2) * self.lease_seconds / 10))
        if lease is not None and self._topped_up(lease, hold, amount, wanted, now):
            return lease
        if lease is not None:
            self._retire(lease)
        return self._take(day, hold, amount, wanted, now)

    def _topped_up(self, lease: Lease, hold: Hold, amount: Decimal, wanted: Decimal, now: float) -> bool:
        """A lease in its first three quarters that ran out of room grows by another slice (one write on the busy
        counter, where a new lease would take two)."""
        if lease.closing or lease.lost or now > lease.ends - self.lease_seconds / 4:
            return False
        extra = max(amount, min(wanted, self._room.get((lease.day, lease.key), hold.limit) / 16))
        try:
            committed = self.store.top_up(lease, extra, hold.limit)
        except OverLimit:
            return False
        if committed is None:
            lease.lost, lease.size = True, lease.drawn
            return False
        self._room[(lease.day, lease.key)] = hold.limit - committed
        lease.size += extra
        return self._fits(lease, amount, now)

    def _fits(self, lease: Lease, amount: Decimal, now: float) -> bool:
        if lease.closing or now > lease.ends - self.lease_seconds / 4 or lease.used + amount > lease.size:
            return False
        if lease.used + amount <= lease.drawn:
            return True
        drawn = min(lease.size, lease.used + amount + self._chunk(lease.day, lease.key, lease.size, amount))
        if self.store.draw(lease, drawn):
            lease.drawn = drawn
            return True
        lease.lost, lease.size = True, lease.drawn
        return False

    def _chunk(self, day: str, key: str, size: Decimal, amount: Decimal) -> Decimal:
        """How far `drawn` runs ahead of what is held: a quarter of the slice, less as the budget nears its end (what
        a dying holder drew stays counted), never less than the call."""
        room = self._room.get((day, key))
        refused = self._refused.get((day, key))
        if refused is not None:
            room = refused[1] if room is None else min(room, refused[1])
        return max(amount, size / 4 if room is None else min(size / 4, room / 64))

    def _take(self, day: str, hold: Hold, amount: Decimal, wanted: Decimal, now: float) -> Lease:
        """A new lease: what this environment holds on the key in half a lease at its recent pace, no more than a
        sixteenth of the room left (slices shrink as a budget nears its end), never less than `amount`."""
        self._check_refusal(day, hold, amount, now)
        room = self._room.get((day, hold.key), hold.limit)
        size = max(amount, min(wanted, room / 16))
        attempt = 0
        while True:
            lease_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
            drawn = min(size, amount + self._chunk(day, hold.key, size, amount))
            lease = Lease(lease_id, day, hold.key, size, now + self.lease_seconds, drawn)
            try:
                committed = self.store.grant(lease, hold.limit, now)
            except OverLimit as refused:
                room = hold.limit - refused.committed
                if room < amount and attempt == 0 and now - self._swept > self.lease_seconds / 4:
                    self._swept = now
                    room += self.store.sweep(day, now, shards=8, rng=self.rng)
                if room < amount or attempt == 2:
                    self._refuse_for_a_while(day, hold.key, room, now)
                    raise
                attempt, size = attempt + 1, max(amount, min(size, room / 16))
                continue
            self._room[(day, hold.key)] = hold.limit - committed
            self._open[(day, hold.key)] = lease
            return lease

    def _retire(self, lease: Lease) -> None:
        del self._open[(lease.day, lease.key)]
        lease.closing = True
        self._closing.append(lease)
        if self._finished(lease):
            self.store.give_back(lease)

    def _holding(self, day: str, key: str, amount: Decimal) -> Lease | None:
        for lease in (*self._closing, self._open.get((day, key))):
            if lease is not None and lease.day == day and lease.key == key and lease.holds[amount] > 0:
                return lease
        return None

    def _release(self, lease: Lease, held: Decimal, cost: Decimal) -> None:
        lease.holds[held] -= 1
        lease.used += cost - held

    def _finished(self, lease: Lease) -> bool:
        """A retired lease with no open hold, or an idle one past half its life, is given back now."""
        if sum(lease.holds.values()):
            return False
        if not lease.closing and self.clock() > lease.ends - self.lease_seconds / 2:
            del self._open[(lease.day, lease.key)]
            lease.closing = True
            return True
        if lease.closing and lease in self._closing:
            self._closing.remove(lease)
            return True
        return False
