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
and written by the first call or refusal a few seconds after the last write, so that a caller over a limit costs
its counter few writes.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from .demand import Demand
from .ledger import REQUESTS, TOTAL, USD, Hold, OverLimit, Totals, UsageLedger, UsageRow
from .slices import Lease, Slices

log = logging.getLogger("airelay.usage")


def leased(hold: Hold) -> bool:
    return hold.key == TOTAL and hold.measure == USD


def period_end(period: str) -> float:
    """When a minute ("YYYY-MM-DDTHH:MM") or a day ("YYYY-MM-DD") ends, in epoch seconds."""
    return datetime.fromisoformat(period).replace(tzinfo=UTC).timestamp() + (86400 if len(period) == 10 else 60)


class LeasedLedger(Slices, UsageLedger):
    """Holds calls against a leased slice of the global budget (store: a usage.dynamodb_leases.DynamoLeases)."""

    remote = True

    def __init__(self, store, lease_seconds: float = 30.0, clock=time.time, rng: random.Random | None = None) -> None:
        self.store = store
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.rng = rng or random  # the module's generator, which a SnapStart restore reseeds
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
        self.write_due_refusals()
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
        self.write_due_refusals()

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
        if self._refusals_due():
            self.flush_refusals()

    def _refusals_due(self) -> bool:
        with self._lock:
            return bool(self._refusals) and self.clock() - self._refusals_at >= self.lease_seconds / 6

    def write_due_refusals(self) -> None:
        """The refusals counted since the last write, once that is a few seconds ago: any later call of this
        environment writes them, not only a later refusal. A failed write keeps them for the next one and never fails
        the call."""
        if self._refusals_due():
            try:
                self.flush_refusals()
            except Exception:
                log.exception("usage ledger unavailable counting refusals; kept to count again")

    def flush_refusals(self) -> None:
        with self._lock:
            counted, self._refusals, self._refusals_at = self._refusals, Counter(), self.clock()
        for (day, identity), times in list(counted.items()):
            try:
                self.store.count_refusals(day, identity, times)
            except BaseException:
                with self._lock:
                    self._refusals.update(counted)  # those not yet written, this one included
                raise
            del counted[(day, identity)]

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
