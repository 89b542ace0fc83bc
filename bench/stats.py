"""Percentiles of one run, and the medians across rounds that the report shows."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def paired(direct: list[float | None], relayed: list[float | None], how) -> float | None:
    """Median over rounds of how(direct, relayed), pairing runs of the same round."""
    return median([how(d, r) if d is not None and r is not None else None for d, r in zip(direct, relayed)])


def minus(direct: float, relayed: float) -> float:
    return relayed - direct


def ratio(direct: float, relayed: float) -> float | None:
    return relayed / direct if direct else None
