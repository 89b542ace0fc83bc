"""How much a budget lease's holder has been holding lately (usage.leases sizes its slices by it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal


@dataclass(slots=True)
class Demand:
    """What this environment held lately: exponentially decaying sums of calls and amounts."""

    amount: float = 0.0
    first: float | None = None
    at: float = 0.0

    def add(self, amount: Decimal, now: float, half_life: float) -> None:
        if self.first is None:
            self.first = now
        self.amount = self.amount * 0.5 ** ((now - self.at) / half_life) + float(amount)
        self.at = now

    def per_second(self, half_life: float) -> float:
        """The amount held per second: the decayed sum over the time it spans (about 1.44 half-lives at most)."""
        return self.amount / max(0.5, min(self.at - self.first, half_life / math.log(2)))
