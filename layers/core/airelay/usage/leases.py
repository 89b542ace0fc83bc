"""Budget leases: an execution environment takes a slice of the global budget with one conditional write, then holds
its calls' dollars against that slice in memory, and gives back what it did not use when the lease ends.

The promise stays the one of `UsageLedger.reserve`: a slice is granted only if the counter's `committed` plus the
slice stays within the limit, a call is admitted only if its worst case fits in a slice, and a slice's unused part
goes back at most once. The lease record's `drawn` is how much of the slice the holder may have handed out; a
holder that dies keeps `drawn` counted and its lease's undrawn part comes back when a sweep finds it ended.

Only the global budget is leased: every call holds it, so its one counter is what a busy stack writes most. A
caller's holds (dollars per day, requests and tokens per minute) stay exact per call on the caller's own counter, one
write with the call's id, as without leases: those counters are spread over partition keys by caller, and a slice of
a caller's budget in each of many environments would strand most of it. A caller's counter that refused this
environment is not asked again for a few seconds for more than it had room for, and refusals are counted in memory
and added every few seconds, so that a caller over a limit costs its counter few writes.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from .demand import Demand
from .ledger import REQUESTS, TOTAL, USD, Hold, OverLimit, Totals, UsageLedger, UsageRow

SWEEP_BACK_S = 600.0  # a sweep looks at the leases that ended in the last ten minutes


@dataclass(slots=True)
class Lease:
    lease_id: str
    day: str
    size: Decimal
    ends: float  # epoch seconds; after it a sweep may take the undrawn part back
    drawn: Decimal
    used: Decimal = Decimal(0)  # settled spend plus open holds
    holds: int = 0  # open holds
    closing: bool = False  # admits no more calls; given back when its last hold settles
    lost: bool = False  # a sweep took it back: only the drawn part may still be used


def leased(hold: Hold) -> bool:
    return hold.key == TOTAL and hold.measure == USD


def period_end(period: str) -> float:
    """When a minute ("YYYY-MM-DDTHH:MM") or a day ("YYYY-MM-DD") ends, in epoch seconds."""
    return datetime.fromisoformat(period).replace(tzinfo=UTC).timestamp() + (86400 if len(period) == 10 else 60)


class LeasedLedger(UsageLedger):
    """Holds calls against a leased slice of the global budget (store: a usage.dynamodb_leases.DynamoLeases)."""

    remote = True

    def __init__(self, store, lease_seconds: float = 30.0, clock=time.time, rng: random.Random | None = None) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._open: dict[str, Lease] = {}  # the lease that admits calls, by day
        self._closing: list[Lease] = []
        self._calls: dict[str, tuple[Lease, Decimal]] = {}  # call id -> the lease holding its dollars, and how many
        self._demand = Demand()
        self._room: dict[str, Decimal] = {}  # the limit less `committed`, as the last grant saw it, by day
        self._refused: dict[tuple[str, str], tuple[float, Decimal]] = {}  # until when, and the room then seen
        self._refused_swept = -math.inf  # the minute (epoch // 60) refusals of ended periods were last dropped in
        self._swept = -math.inf
        self._asked: dict[str, float] = {}  # when this environment last asked the busy counter, by day
        self._refusals: Counter = Counter()  # (day, identity) -> refusals not yet written
        self._refusals_at = clock()

    def reserve(self, call_id: str, holds: list[Hold]) -> None:
        global_hold = next((hold for hold in holds if leased(hold)), None)
        direct = [hold for hold in holds if hold is not global_hold]
        self.give_back_ended()
        with self._lock:
            now = self.clock()
            for hold in direct:
                self._check_refusal(hold, now)
            if global_hold is not None and global_hold.amount and call_id not in self._calls:
                lease = self._lease_for(global_hold, now)
                lease.used += global_hold.amount
                lease.holds += 1
                self._calls[call_id] = (lease, global_hold.amount)
        try:
            self.store.reserve(call_id, direct)
        except BaseException as error:
            if isinstance(error, OverLimit) and error.hold.limit is not None:
                with self._lock:  # it may drop what other threads' refusals noted
                    self._refuse_for_a_while(error.hold, error.hold.limit - error.committed, now)
            self._done(call_id, Decimal(0))
            raise

    def settle(self, row: UsageRow, holds: list[Hold] = ()) -> None:
        """The caller's counter and the row through the store; the call's dollars on its lease trued up to its cost
        (to its worst case if the store failed: it stays counted, erring on the side of refusing)."""
        try:
            self.store.settle(row, [hold for hold in holds if not leased(hold)])
        except BaseException:
            self._done(row.call_id, None)
            raise
        self._done(row.call_id, row.cost_usd)

    def _done(self, call_id: str, cost: Decimal | None) -> None:
        with self._lock:
            lease, held = self._calls.pop(call_id, (None, None))
            if lease is None:
                return
            lease.holds -= 1
            lease.used += (held if cost is None else cost) - held
            finished = self._finished(lease)
        if finished:
            self.store.give_back(lease)

    def count_refusal(self, day: str, identity: str) -> None:
        with self._lock:
            self._refusals[(day, identity)] += 1
            due = self.clock() - self._refusals_at >= self.lease_seconds / 6
        if due:
            self.flush_refusals()

    def flush_refusals(self) -> None:
        with self._lock:
            counted, self._refusals, self._refusals_at = self._refusals, Counter(), self.clock()
        for (day, identity), times in counted.items():
            self.store.count_refusals(day, identity, times)

    def committed(self, period: str, key: str) -> Decimal:
        return self.store.committed(period, key)

    def day_totals(self, day: str) -> dict[str, Totals]:
        return self.store.day_totals(day)

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        return self.store.totals_for_days(days)

    def caller_totals(self, identity: str, days: list[str]) -> list[dict[str, Totals]]:
        return self.store.caller_totals(identity, days)

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        return self.store.rows(day, limit)

    def give_back_all(self) -> None:
        """Ends every lease with no open call and writes the refusals counted (at shutdown)."""
        with self._lock:
            for lease in self._open.values():
                lease.closing = True
                self._closing.append(lease)
            self._open.clear()
            done = [lease for lease in list(self._closing) if self._finished(lease)]
        for lease in done:
            self.store.give_back(lease)
        self.flush_refusals()

    def give_back_ended(self) -> None:
        """Retires the leases past their end (a day's lease too, once the next day's first call comes); each is given
        back when its last call settles."""
        with self._lock:
            now = self.clock()
            ended = [lease for lease in self._open.values() if now > lease.ends]
            for lease in ended:
                del self._open[lease.day]
                lease.closing = True
                self._closing.append(lease)
            done = [lease for lease in ended if self._finished(lease)]
        for lease in done:
            self.store.give_back(lease)

    def _check_refusal(self, hold: Hold, now: float) -> None:
        """A counter that refused this environment a moment ago is not asked again for more than it had room for:
        an exhausted limit would otherwise take a refused write per call."""
        until, room = self._refused.get((hold.period, hold.key), (-math.inf, None))
        if now < until and hold.amount > room:
            raise OverLimit(hold, hold.limit - room)

    def _refuse_for_a_while(self, hold: Hold, room: Decimal, now: float) -> None:
        """Until the minute ends for requests per minute (settling gives none back); for a caller's dollars half a
        lease to a lease (what its calls in flight give back is small); a few seconds otherwise."""
        until = now + self.rng.uniform(self.lease_seconds / 8, self.lease_seconds / 4)
        if hold.measure == USD and hold.key != TOTAL:
            until = now + self.rng.uniform(self.lease_seconds / 2, self.lease_seconds)
        if hold.measure == REQUESTS:
            until = period_end(hold.period)
        if now // 60 != self._refused_swept:  # a minute or a day that ended is held no more: forget its refusals
            self._refused_swept = now // 60
            ended = now - self.lease_seconds
            self._refused = {seen: value for seen, value in self._refused.items() if period_end(seen[0]) > ended}
        self._refused[(hold.period, hold.key)] = (until, room)

    def _lease_for(self, hold: Hold, now: float) -> Lease:
        """The lease to hold the call on: the open one if it has room, grown by a top-up, or a new one."""
        day, amount = hold.period, hold.amount
        self._demand.add(amount, now, self.lease_seconds / 2)
        lease = self._open.get(day)
        if lease is not None and self._fits(lease, amount, now):
            return lease
        self._check_refusal(hold, now)
        self._pace(hold, now)
        wanted = Decimal(str(self._demand.per_second(self.lease_seconds / 2) * self.lease_seconds / 10))
        if lease is not None and self._topped_up(lease, hold, wanted, now):
            return lease
        if lease is not None:
            self._retire(lease)
        return self._take(hold, wanted, now)

    def _pace(self, hold: Hold, now: float) -> None:
        """Within the last 1/64 of the budget every call would need a write on the busy counter: this environment
        asks it at most every LEASE_SECONDS / 16 then, and refuses the calls in between."""
        room = self._room.get(hold.period)
        if room is not None and hold.limit is not None and room < hold.limit / 64:
            if now - self._asked.get(hold.period, -math.inf) < self.lease_seconds / 16:
                raise OverLimit(hold, hold.limit - room)
        self._asked[hold.period] = now

    def _topped_up(self, lease: Lease, hold: Hold, wanted: Decimal, now: float) -> bool:
        """A lease in its first three quarters that ran out of room grows by another slice (one write on the busy
        counter, where a new lease would take two)."""
        if lease.closing or lease.lost or now > lease.ends - self.lease_seconds / 4:
            return False
        limit = hold.limit if hold.limit is not None else Decimal("Infinity")
        extra = max(hold.amount, min(wanted, self._room.get(lease.day, limit) / 16))
        try:
            committed = self.store.top_up(lease, hold, extra)
        except OverLimit as refused:
            self._room[lease.day] = limit - refused.committed
            return False
        if committed is None:
            lease.lost, lease.size = True, lease.drawn
            return False
        self._room[lease.day] = limit - committed
        lease.size += extra
        return self._fits(lease, hold.amount, now)

    def _fits(self, lease: Lease, amount: Decimal, now: float) -> bool:
        if lease.closing or now > lease.ends - self.lease_seconds / 4 or lease.used + amount > lease.size:
            return False
        if lease.used + amount <= lease.drawn:
            return True
        drawn = min(lease.size, lease.used + amount + self._chunk(lease.day, lease.size))
        if self.store.draw(lease, drawn):
            lease.drawn = drawn
            return True
        lease.lost, lease.size = True, lease.drawn
        return False

    def _chunk(self, day: str, size: Decimal) -> Decimal:
        """How far `drawn` runs ahead of what is held: an eighth of the slice, less as the budget nears its end (what
        a dying holder drew stays counted), down to nothing (a draw per call, on the lease's own record)."""
        room = self._room.get(day)
        refused = self._refused.get((day, TOTAL))
        if refused is not None:
            room = refused[1] if room is None else min(room, refused[1])
        return size / 8 if room is None else min(size / 8, room / 256)

    def _take(self, hold: Hold, wanted: Decimal, now: float) -> Lease:
        """A new lease: what this environment holds in a tenth of a lease at its recent pace, no more than a
        sixteenth of the room left (slices shrink as a budget nears its end), never less than the call."""
        self._check_refusal(hold, now)
        day, amount = hold.period, hold.amount
        limit = hold.limit if hold.limit is not None else Decimal("Infinity")
        room = self._room.get(day, limit)
        size = max(amount, min(wanted, room / 16))
        for attempt in range(3):
            lease_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
            drawn = min(size, amount + self._chunk(day, size))
            lease = Lease(lease_id, day, size, now + self.lease_seconds, drawn)
            try:
                committed = self.store.grant(lease, hold, now)
            except OverLimit as refused:
                room = limit - refused.committed
                if room < amount and attempt == 0 and now - self._swept > self.lease_seconds / 4:
                    self._swept = now
                    room += self.store.sweep(day, now, now - SWEEP_BACK_S, shards=2, rng=self.rng)
                self._room[day] = room
                if room < amount or attempt == 2:
                    self._refuse_for_a_while(hold, room, now)
                    raise
                size = max(amount, min(size, room / 16))
                continue
            self._room[day] = limit - committed
            self._open[day] = lease
            return lease
        raise AssertionError("unreachable")

    def _retire(self, lease: Lease) -> None:
        del self._open[lease.day]
        lease.closing = True
        self._closing.append(lease)
        if self._finished(lease):
            self.store.give_back(lease)

    def _finished(self, lease: Lease) -> bool:
        """A retired lease with no open hold, or an idle one past half its life, is given back now."""
        if lease.holds:
            return False
        if not lease.closing and self.clock() > lease.ends - self.lease_seconds / 2:
            if self._open.get(lease.day) is lease:
                del self._open[lease.day]
            lease.closing = True
            return True
        if lease.closing and lease in self._closing:
            self._closing.remove(lease)
            return True
        return False
