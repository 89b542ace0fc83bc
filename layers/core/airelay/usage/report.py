"""Usage totals for a date range, grouped by day, model or caller, with today's budget."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from .ledger import TOTAL, Totals, identity_key
from .meter import Meter, seconds_until_reset

GROUPS = {"day": None, "model": "model:", "identity": "id:"}
MAX_DAYS = 92


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def money(meter: Meter, usd: Decimal) -> dict:
    return {"cost_usd": float(usd), "cost_krw": float(meter.krw(usd))}


def line(meter: Meter, key: str, totals: Totals) -> dict:
    return {
        "key": key,
        "calls": totals.calls,
        "errors": totals.errors,
        "cancelled": totals.cancelled,
        "prompt_tokens": totals.prompt_tokens,
        "cached_tokens": totals.cached_tokens,
        "completion_tokens": totals.completion_tokens,
        **money(meter, totals.spent),
    }


def build_report(meter: Meter, start: date, end: date, by: str, identity: str | None = None) -> dict:
    """Blocking (reads the ledger): run it in a worker thread from async code."""
    prefix = GROUPS[by]
    grouped: dict[str, Totals] = {}
    overall = Totals()
    days = days_between(start, end)
    for day, counters in zip(days, meter.ledger.totals_for_days(days)):
        overall.add(counters.get(TOTAL, Totals()))
        if prefix is None:
            grouped[day] = counters.get(TOTAL, Totals())
            continue
        for key, totals in counters.items():
            if key.startswith(prefix):
                grouped.setdefault(key.removeprefix(prefix), Totals()).add(totals)
    rows = [line(meter, key, totals) for key, totals in grouped.items()]
    if prefix is not None:
        rows.sort(key=lambda r: r["cost_usd"], reverse=True)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "rows": rows,
        "total": line(meter, "total", overall),
        "budget": budget_today(meter, identity),
        "prices": meter.prices.source,
    }


def budget_today(meter: Meter, identity: str | None) -> dict:
    now = datetime.now(UTC)
    counters = meter.ledger.day_totals(now.date().isoformat())
    used = counters.get(TOTAL, Totals()).committed
    budget = {
        "day": now.date().isoformat(),
        "limit_usd": float(meter.daily_limit),
        "used_usd": float(used),
        "remaining_usd": float(max(meter.daily_limit - used, Decimal(0))),
        "resets_in_s": seconds_until_reset(now),
    }
    if identity:
        mine = counters.get(identity_key(identity), Totals()).committed
        limit = meter.limit_for(identity)
        budget["caller"] = {
            "identity": identity,
            "limit_usd": float(limit),
            "used_usd": float(mine),
            "remaining_usd": float(max(limit - mine, Decimal(0))),
        }
    return budget
