"""The budget check before every AI call (Meter.open), against a real SQLite ledger: a free model holds nothing, a
paid call holds its worst case on both budgets, a refusal says which budget and how much of it is used, and a
ledger that cannot be reached refuses the call rather than letting it run unmetered."""

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.errors import BudgetExceeded, ProviderUnavailable
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, USD, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger

PAID = "openai/gpt-4o-mini"  # 0.15 / 0.60 USD per 1M tokens (data/prices.json)
WORST = (1000 * Decimal("0.15") + 100 * Decimal("0.60")) / 1_000_000  # 1000 prompt tokens, max_tokens 100


def meter_for(tmp_path, daily="1", mine="0.5", budgets="") -> Meter:
    settings = Settings(
        daily_budget_usd=Decimal(daily), identity_daily_budget_usd=Decimal(mine), identity_budgets=budgets
    )
    return Meter(SqliteLedger(tmp_path / "usage.sqlite3"), load_prices(), settings)


def open_call(meter: Meter, model=PAID, identity="ip:1"):
    return asyncio.run(
        meter.open(
            request_id="r", identity=identity, function="chat", model_id=model, prompt_tokens=1000, max_tokens=100
        )
    )


def reserved(call) -> Decimal:
    """The worst case the call holds on its budgets until it settles."""
    return max((hold.amount for hold in call.holds if hold.measure == USD), default=Decimal(0))


def held(meter: Meter) -> dict[str, Decimal]:
    """The counters holding anything now."""
    return {key: t.committed for key, t in meter.ledger.day_totals(today()).items() if t.committed}


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_a_free_model_holds_nothing_and_runs_on_a_spent_budget(tmp_path):
    meter = meter_for(tmp_path, daily="0.000000001", mine="0.000000001")
    call = open_call(meter, model="local/use-multilingual")
    assert reserved(call) == 0
    assert held(meter) == {}
    asyncio.run(meter.close(call, Usage(prompt_tokens=1000), "ok"))
    totals = meter.ledger.day_totals(today())[TOTAL]
    assert (totals.calls, totals.spent, totals.committed) == (1, 0, 0)


def test_a_paid_call_holds_its_worst_case_on_both_budgets_until_it_settles(tmp_path):
    meter = meter_for(tmp_path)
    call = open_call(meter)
    held = meter.ledger.day_totals(today())
    assert reserved(call) == WORST
    assert held[TOTAL].committed == WORST and held[identity_key("ip:1")].committed == WORST
    started = time.monotonic()
    cost = asyncio.run(meter.close(call, Usage(prompt_tokens=400, completion_tokens=10), "ok"))
    elapsed_ms = (time.monotonic() - call.started) * 1000
    assert cost == (400 * Decimal("0.15") + 10 * Decimal("0.60")) / 1_000_000
    assert meter.ledger.day_totals(today())[TOTAL].committed == cost
    (row,) = meter.ledger.rows(today())
    assert (row.provider, row.model, row.identity, row.status, row.cost_usd) == ("openai", PAID, "ip:1", "ok", cost)
    assert 0 <= row.latency_ms <= elapsed_ms and started >= call.started


@pytest.mark.parametrize(
    ("daily", "mine", "budgets", "refused_by"),
    [("1", "0.0001", "", "caller"), ("0.0001", "1", "", "global"), ("1", "1", "ip:1=0.0001", "caller")],
)
def test_a_call_over_a_budget_is_refused_naming_the_budget(tmp_path, daily, mine, budgets, refused_by):
    meter = meter_for(tmp_path, daily, mine, budgets)
    with pytest.raises(BudgetExceeded) as refused:
        open_call(meter)
    assert refused.value.budget == refused_by
    assert refused.value.limit == Decimal("0.0001")
    assert ("your daily budget" in refused.value.message) == (refused_by == "caller")
    assert held(meter) == {}  # nothing held


def test_another_callers_own_budget_does_not_bind_this_caller(tmp_path):
    meter = meter_for(tmp_path, budgets="ip:2=0.0001")
    assert reserved(open_call(meter, identity="ip:1")) == WORST
    with pytest.raises(BudgetExceeded):
        open_call(meter, identity="ip:2")


class FailingLedger(SqliteLedger):
    def reserve(self, call_id, holds) -> None:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_ledger_that_fails_refuses_the_call_with_a_503(tmp_path):
    meter = meter_for(tmp_path)
    meter.ledger = FailingLedger(tmp_path / "failing.sqlite3")
    with pytest.raises(ProviderUnavailable):
        open_call(meter)
