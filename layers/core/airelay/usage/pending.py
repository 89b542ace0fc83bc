"""Settlements that failed after the SDK's retries, kept and tried again until they get through.

Settling a call again counts it once (`UsageLedger.settle`), so a settlement that failed is not dropped: it waits
here for a random time under a bound that doubles with each failure, from one second to half a minute (full jitter,
as botocore's own backoff), and the meter tries the ones that are due before its next call (on Lambda nothing runs
between invocations). Until a call settles, its holds stay counted, so its limits err on the side of refusing, never
of overspending. A process that ends with settlements waiting loses them as it loses its calls in flight: their holds
stay counted, and a call's row may already be written without its figures on its counters.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from .ledger import Hold, UsageLedger, UsageRow

log = logging.getLogger("airelay.usage")

FIRST_WAIT_S, LONGEST_WAIT_S = 1.0, 30.0


@dataclass(slots=True)
class Unsettled:
    row: UsageRow
    holds: list[Hold]
    failures: int = 0
    due: float = 0.0


class PendingSettles:
    """Thread-safe: two callers never settle the same call at once."""

    MOST = 100  # waiting settlements beyond which the meter admits no new call (503) until some get through
    PER_TURN = 8  # settlements tried at most per retry(): the call that tries them waits for a few at most

    def __init__(self, clock=time.monotonic, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random  # the module's generator, which a SnapStart restore reseeds
        self._lock = threading.Lock()
        self._waiting: dict[str, Unsettled] = {}  # by call id

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def full(self) -> bool:
        return len(self._waiting) >= self.MOST

    def add(self, row: UsageRow, holds: list[Hold]) -> None:
        self._wait(Unsettled(row, list(holds)))

    def due(self) -> bool:
        now = self.clock()
        with self._lock:
            return any(unsettled.due <= now for unsettled in self._waiting.values())

    def retry(self, ledger: UsageLedger) -> list[UsageRow]:
        """Settles again the calls that are due; returns the rows settled now. A settlement that fails again waits
        longer; none is raised."""
        now = self.clock()
        with self._lock:
            ready = [unsettled for unsettled in self._waiting.values() if unsettled.due <= now][: self.PER_TURN]
            for unsettled in ready:
                del self._waiting[unsettled.row.call_id]
        settled = []
        for unsettled in ready:
            try:
                ledger.settle(unsettled.row, unsettled.holds)
            except Exception:
                log.warning("a call could not be settled again; it waits", extra={"call_id": unsettled.row.call_id})
                self._wait(unsettled)
            else:
                settled.append(unsettled.row)
        return settled

    def _wait(self, unsettled: Unsettled) -> None:
        unsettled.failures += 1
        longest = min(LONGEST_WAIT_S, FIRST_WAIT_S * 2 ** (unsettled.failures - 1))
        unsettled.due = self.clock() + self.rng.uniform(0, longest)
        with self._lock:
            self._waiting[unsettled.row.call_id] = unsettled
