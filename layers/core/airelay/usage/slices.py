"""The slices of a leased ledger (usage.leases): the lease an environment keeps in memory, and how the lease a call is
held on is found, drawn on, topped up, taken and given back. LeasedLedger inherits `Slices`, which works on the
ledger's own state (set by LeasedLedger.__init__) and asks its memory of refusals before it writes."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from decimal import Decimal

from .ledger import TOTAL, Hold, OverLimit

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


class Slices:
    """The part of LeasedLedger that keeps its leases: its store, clock, rng, lease_seconds, open and closing leases,
    demand, room, last asks and sweeps, and its refusals (`_refused`, `_check_refusal`, `_refuse_for_a_while`)."""

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
