"""Usage totals for a date range, grouped by day, model, caller or kind of caller (user, key, visitor, ip), with
today's budget: the caller's own counters ("id:<identity>", "idmodel:<model>|<identity>", read without any other
caller's), or for an operator every caller's and today's top callers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from .ledger import TOTAL, Totals, identity_key, model_and_caller
from .meter import Meter, seconds_until_reset

GROUPS = {"day": None, "model": "model:", "identity": "id:", "kind": "id:"}
MAX_DAYS = 92
TOP = 10  # callers in an operator's `top`


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
        "refused": totals.refused,
        "prompt_tokens": totals.prompt_tokens,
        "cached_tokens": totals.cached_tokens,
        "completion_tokens": totals.completion_tokens,
        **money(meter, totals.spent),
    }


def build_report(
    meter: Meter,
    start: date,
    end: date,
    by: str,
    identity: str | None = None,
    everyone: bool = False,
    limits=None,
) -> dict:
    """The caller's own usage; with `everyone` (an operator), or with no `identity` (the ledger's owner at the
    console, `python -m airelay usage`), every caller's and the global budget. `limits`: the caller's visitor token's
    own. Blocking (reads the ledger): run it in a worker thread from async code."""
    everyone = everyone or identity is None
    grouped: dict[str, Totals] = {}
    overall = Totals()
    days = days_between(start, end)
    if everyone:
        lines, of_days = every_callers_lines, meter.ledger.totals_for_days(days)
    else:
        lines, of_days = callers_own_lines, meter.ledger.caller_totals(identity, days)
    for day, counters in zip(days, of_days):
        overall.add(day_total(counters) if everyone else counters.get(identity_key(identity), Totals()))
        for key, totals in lines(counters, by, day, identity):
            grouped.setdefault(key, Totals()).add(totals)
    rows = [line(meter, key, totals) for key, totals in grouped.items()]
    if by != "day":
        rows.sort(key=lambda r: (r["cost_usd"], r["refused"]), reverse=True)
    report = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "scope": "all" if everyone else "caller",
        "rows": rows,
        "total": line(meter, "total", overall),
        "budget": budget_today(meter, identity, everyone, limits),
        "prices": meter.prices.source,
    }
    if everyone:
        report["top"] = top_today(meter)
    return report


def top_today(meter: Meter) -> list[dict]:
    """Today's callers with the most spend, then the most refusals: for operators only."""
    counters = meter.ledger.day_totals(datetime.now(UTC).date().isoformat())
    callers = [line(meter, key.removeprefix("id:"), t) for key, t in counters.items() if key.startswith("id:")]
    callers.sort(key=lambda r: (r["cost_usd"], r["refused"], r["calls"]), reverse=True)
    return callers[:TOP]


def kind_of(identity: str) -> str:
    return identity.partition(":")[0]


def day_total(counters: dict[str, Totals]) -> Totals:
    """The day's total, with the refusals of every caller (they are counted on the callers' counters only)."""
    refused = sum(totals.refused for key, totals in counters.items() if key.startswith("id:"))
    return replace(counters.get(TOTAL, Totals()), refused=refused)


def every_callers_lines(counters: dict[str, Totals], by: str, day: str, _identity: str | None):
    if by == "day":
        yield day, day_total(counters)
        return
    prefix = GROUPS[by]
    for key, totals in counters.items():
        if key.startswith(prefix):
            name = key.removeprefix(prefix)
            yield kind_of(name) if by == "kind" else name, totals


def callers_own_lines(counters: dict[str, Totals], by: str, day: str, identity: str):
    mine = counters.get(identity_key(identity))
    if by == "day":
        yield day, mine or Totals()
    elif by == "identity" and mine:
        yield identity, mine
    elif by == "kind" and mine:
        yield kind_of(identity), mine
    elif by == "model":
        for key, totals in counters.items():
            if key.startswith("idmodel:"):
                model, whose = model_and_caller(key)
                if whose == identity:
                    yield model, totals


def budget_today(meter: Meter, identity: str | None, everyone: bool, limits=None) -> dict:
    """Today's budget: the global one for an operator, else the caller's own; and the caller's own beside it."""
    now = datetime.now(UTC)
    today = now.date().isoformat()
    counters = meter.ledger.day_totals(today) if everyone else meter.ledger.caller_totals(identity, [today])[0]
    used = counters.get(identity_key(identity), Totals()).committed if identity else Decimal(0)
    own = identity and remaining(meter.limit_for(identity, limits), used)
    shown = remaining(meter.daily_limit, counters.get(TOTAL, Totals()).committed) if everyone else own
    budget = {"day": now.date().isoformat(), **shown, "resets_in_s": seconds_until_reset(now)}
    if identity:
        budget["caller"] = {"identity": identity, **own}
    return budget


def remaining(limit: Decimal, used: Decimal) -> dict:
    return {"limit_usd": float(limit), "used_usd": float(used), "remaining_usd": float(max(limit - used, Decimal(0)))}
