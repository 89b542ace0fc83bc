"""A settlement that fails is kept and tried again (usage.pending): it counts once when it gets through, its holds stay
counted until then, it is tried only when due, a few at a time, and while too many wait the meter admits no call."""

import asyncio
import random
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.errors import ProviderUnavailable
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pending import PendingSettles
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger

from .test_meter import PAID, WORST, open_call, today


class FlakyLedger(SqliteLedger):
    """The real SQLite ledger, whose settle fails while `failing` is set (as a write throttled past the SDK's
    retries)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failing = False
        self.settles = 0

    def settle(self, row, holds=()) -> None:
        self.settles += 1
        if self.failing:
            raise ConnectionError("throttled")
        super().settle(row, holds)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def metered(tmp_path):
    ledger, clock = FlakyLedger(tmp_path / "usage.sqlite3"), Clock()
    meter = Meter(ledger, load_prices(), Settings(daily_budget_usd=Decimal(1), identity_daily_budget_usd=Decimal(1)))
    meter.pending = PendingSettles(clock, random.Random(1))
    return meter, ledger, clock


def close(meter, call, prompt_tokens=400):
    return asyncio.run(meter.close(call, Usage(prompt_tokens=prompt_tokens, completion_tokens=10), "ok"))


def test_a_failed_settlement_stays_held_and_is_settled_once_before_a_later_call(tmp_path):
    # GIVEN a paid call whose settlement fails
    meter, ledger, clock = metered(tmp_path)
    first = open_call(meter)
    ledger.failing = True
    cost = close(meter, first)
    # THEN it waits, its worst case still held on both budgets, no row written
    totals = ledger.day_totals(today())
    assert (
        len(meter.pending) == 1
        and totals[TOTAL].committed == WORST
        and totals[identity_key("ip:203.0.113.1")].committed == WORST
    )
    assert ledger.rows(today()) == []
    # WHEN the ledger answers again and a later call comes before the settlement is due
    ledger.failing = False
    second = open_call(meter)
    assert len(meter.pending) == 1 and ledger.settles == 1  # not tried yet
    # AND another one after it is due
    clock.now += 1.0  # the first wait is under a second
    third = open_call(meter)
    # THEN it was settled before that call's reservation, once: its cost counted, its hold released
    assert len(meter.pending) == 0 and ledger.settles == 2
    for call in (second, third):
        close(meter, call)
    totals = ledger.day_totals(today())[TOTAL]
    assert (totals.calls, totals.spent, totals.committed) == (3, 3 * cost, 3 * cost)
    assert sorted(row.call_id for row in ledger.rows(today())) == sorted(c.call_id for c in (first, second, third))


def test_a_settlement_that_fails_again_waits_longer_each_time(tmp_path):
    meter, ledger, clock = metered(tmp_path)
    call = open_call(meter)
    ledger.failing = True
    close(meter, call)
    waits = []
    for _ in range(10):
        (waiting,) = meter.pending._waiting.values()
        waits.append(waiting.due - clock.now)
        clock.now = waiting.due
        assert meter.pending.retry(ledger) == []
    bounds = [min(30.0, 2.0**n) for n in range(10)]  # after the n+1-th failure: under 2^n s, half a minute at most
    assert all(0 <= wait < bound for wait, bound in zip(waits, bounds))
    assert max(waits) > 4 and ledger.settles == 11


def test_a_few_settlements_are_tried_per_call(tmp_path):
    meter, ledger, clock = metered(tmp_path)
    calls = [open_call(meter, identity=f"ip:{n}") for n in range(20)]
    ledger.failing = True
    for call in calls:
        close(meter, call)
    ledger.failing, clock.now = False, 60.0
    settled = meter.pending.retry(ledger)
    assert len(settled) == PendingSettles.PER_TURN and len(meter.pending) == 20 - PendingSettles.PER_TURN
    while meter.pending.due():
        meter.pending.retry(ledger)
    assert ledger.day_totals(today())[TOTAL].calls == 20


def test_while_too_many_settlements_wait_the_meter_refuses_new_calls_with_a_503(tmp_path, monkeypatch):
    # GIVEN a meter that keeps at most 3 waiting settlements, and a ledger that cannot settle
    monkeypatch.setattr(PendingSettles, "MOST", 3)
    meter, ledger, clock = metered(tmp_path)
    calls = [open_call(meter) for _ in range(3)]
    ledger.failing = True
    for call in calls:
        close(meter, call)
    # WHEN a new call comes, the waiting ones due but failing again THEN it is refused, nothing more held
    clock.now = 60.0
    with pytest.raises(ProviderUnavailable):
        open_call(meter)
    assert ledger.day_totals(today())[TOTAL].committed == 3 * WORST
    # AND once the ledger settles them, calls are admitted again
    ledger.failing, clock.now = False, 120.0
    assert open_call(meter, model=PAID).call_id and len(meter.pending) == 0


def test_a_call_whose_wait_for_earlier_settlements_crosses_midnight_is_held_on_the_new_day(tmp_path, monkeypatch):
    # GIVEN a settlement waiting from a call just before midnight
    wall = {"now": datetime(2026, 12, 4, 23, 59, 59, 900_000, tzinfo=UTC)}

    class WallClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return wall["now"]

    monkeypatch.setattr(sys.modules[Meter.__module__], "datetime", WallClock)
    meter, ledger, clock = metered(tmp_path)
    first = open_call(meter)
    ledger.failing = True
    close(meter, first)
    # WHEN the next call settles it first, and that takes it past midnight
    ledger.failing, clock.now = False, 60.0
    settle = ledger.settle

    def slow_settle(row, holds=()):
        wall["now"] = datetime(2026, 12, 5, 0, 0, 0, 200_000, tzinfo=UTC)
        settle(row, holds)

    ledger.settle = slow_settle
    second = open_call(meter)
    # THEN that call belongs to the new day: its holds, its row and the day's counters
    assert second.day == "2026-12-05"
    assert {hold.period[:10] for hold in second.holds} == {"2026-12-05"}
    assert ledger.day_totals("2026-12-05")[TOTAL].committed == WORST
    assert ledger.day_totals("2026-12-04")[TOTAL].committed == ledger.day_totals("2026-12-04")[TOTAL].spent
