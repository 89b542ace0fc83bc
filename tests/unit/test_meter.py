"""The budget check before every AI call (Meter.open), against a real SQLite ledger: a free model holds nothing, a
paid call holds its worst case on both budgets, a refusal says which budget and how much of it is used, and a
ledger that cannot be reached refuses the call rather than letting it run unmetered."""

import asyncio
import sqlite3
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.errors import BudgetExceeded, ProviderUnavailable, RateLimitExceeded
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, USD, identity_key
from airelay.usage.meter import Meter, seconds_until_next_minute
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger

PAID = "openai/gpt-4o-mini"  # 0.15 / 0.60 USD per 1M tokens (data/prices.json)
WORST = (1000 * Decimal("0.15") + 100 * Decimal("0.60")) / 1_000_000  # 1000 prompt tokens, max_tokens 100


def meter_for(tmp_path, daily="1", mine="0.5", budgets="", **rates) -> Meter:
    settings = Settings(
        daily_budget_usd=Decimal(daily), identity_daily_budget_usd=Decimal(mine), identity_budgets=budgets, **rates
    )
    return Meter(SqliteLedger(tmp_path / "usage.sqlite3"), load_prices(), settings)


def open_call(meter: Meter, model=PAID, identity="ip:203.0.113.1", prompt_tokens=1000, max_tokens=100):
    return asyncio.run(
        meter.open(
            request_id="r",
            identity=identity,
            function="chat",
            model_id=model,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
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
    assert held[TOTAL].committed == WORST and held[identity_key("ip:203.0.113.1")].committed == WORST
    started = time.monotonic()
    cost = asyncio.run(meter.close(call, Usage(prompt_tokens=400, completion_tokens=10), "ok"))
    elapsed_ms = (time.monotonic() - call.started) * 1000
    assert cost == (400 * Decimal("0.15") + 10 * Decimal("0.60")) / 1_000_000
    assert meter.ledger.day_totals(today())[TOTAL].committed == cost
    (row,) = meter.ledger.rows(today())
    assert (row.provider, row.model, row.identity, row.status, row.cost_usd) == (
        "openai",
        PAID,
        "ip:203.0.113.1",
        "ok",
        cost,
    )
    assert 0 <= row.latency_ms <= elapsed_ms and started >= call.started


@pytest.mark.parametrize(
    ("reported", "billed"),
    [
        (Usage(400.0, 10), (400, 10, 0, False)),  # counts sent as JSON floats
        (Usage(400, -10_000_000), (400, 0, 0, True)),  # a negative count gives the budget no room
        (Usage(400, 10, 900), (400, 10, 400, True)),  # no more cached tokens than prompt tokens
        (Usage(float("nan"), None, "2"), (0, 0, 0, True)),  # no number at all
    ],
)
def test_reported_counts_are_settled_as_whole_non_negative_numbers(tmp_path, reported, billed):
    # GIVEN a paid call holding its worst case
    meter = meter_for(tmp_path)
    call = open_call(meter)
    # WHEN it is closed with what the upstream reported
    cost = asyncio.run(meter.close(call, reported, "ok"))
    # THEN it is settled once, billed whole non-negative counts (estimated if they had to change), hold released
    (row,) = meter.ledger.rows(today())
    assert (row.prompt_tokens, row.completion_tokens, row.cached_tokens, row.estimated) == billed
    assert row.cost_usd == cost >= 0
    assert meter.ledger.day_totals(today())[TOTAL].committed == cost


@pytest.mark.parametrize(
    ("daily", "mine", "budgets", "refused_by"),
    [("1", "0.0001", "", "caller"), ("0.0001", "1", "", "global"), ("1", "1", "ip:203.0.113.1=0.0001", "caller")],
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
    meter = meter_for(tmp_path, budgets="ip:203.0.113.2=0.0001")
    assert reserved(open_call(meter, identity="ip:203.0.113.1")) == WORST
    with pytest.raises(BudgetExceeded):
        open_call(meter, identity="ip:203.0.113.2")


class FailingLedger(SqliteLedger):
    def reserve(self, call_id, holds) -> None:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_ledger_that_fails_refuses_the_call_with_a_503(tmp_path):
    meter = meter_for(tmp_path)
    meter.ledger = FailingLedger(tmp_path / "failing.sqlite3")
    with pytest.raises(ProviderUnavailable):
        open_call(meter)


class CountingLedger(SqliteLedger):
    """The real SQLite ledger, counting the reservations it is asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reserves = 0

    def reserve(self, call_id, holds) -> None:
        self.reserves += 1
        super().reserve(call_id, holds)


def at(moment: datetime):
    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment

    return Clock


def test_a_caller_refused_by_its_requests_per_minute_is_refused_again_without_a_reservation(tmp_path, monkeypatch):
    from airelay.errors import RateLimitExceeded

    meter_module = sys.modules[Meter.__module__]

    # GIVEN visitors limited to 2 requests a minute, on a ledger that counts its reservations
    ledger = CountingLedger(tmp_path / "usage.sqlite3")
    meter = Meter(ledger, load_prices(), Settings(visitor_requests_per_minute=2))
    monkeypatch.setattr(meter_module, "datetime", at(datetime(2026, 12, 4, 10, 5, 1, tzinfo=UTC)))
    # WHEN one visitor calls 6 times in a minute, and another visitor once
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(open_call(meter, identity="visitor:abuser@web").call_id and "admitted")
        except RateLimitExceeded as refused:
            outcomes.append((refused.rate, refused.limit, refused.used, refused.retry_after))
    other = open_call(meter, identity="visitor:other@web")
    # THEN its 3rd to 6th calls are refused alike, but only the 3rd asked the ledger; every refusal is counted
    assert outcomes == ["admitted"] * 2 + [("requests_per_minute", 2, 2, 59)] * 4
    assert ledger.reserves == 3 + 1 and other.call_id
    assert ledger.day_totals("2026-12-04")[identity_key("visitor:abuser@web")].refused == 4
    # AND in the next minute it is admitted again, through the ledger
    monkeypatch.setattr(meter_module, "datetime", at(datetime(2026, 12, 4, 10, 6, 0, tzinfo=UTC)))
    assert open_call(meter, identity="visitor:abuser@web").call_id and ledger.reserves == 5


def test_a_token_with_another_limit_is_not_refused_by_the_remembered_one(tmp_path, monkeypatch):
    from airelay.errors import RateLimitExceeded

    meter_module = sys.modules[Meter.__module__]
    from airelay.visitors import VisitorLimits

    meter = Meter(SqliteLedger(tmp_path / "usage.sqlite3"), load_prices(), Settings(visitor_requests_per_minute=3))
    monkeypatch.setattr(meter_module, "datetime", at(datetime(2026, 12, 4, 10, 5, 1, tzinfo=UTC)))

    def call(limits=None):
        return asyncio.run(
            meter.open(request_id="r", identity="visitor:v@web", function="chat", model_id=PAID, limits=limits)
        )

    call(VisitorLimits(requests_per_minute=1))
    with pytest.raises(RateLimitExceeded):
        call(VisitorLimits(requests_per_minute=1))
    assert call().call_id  # the configured 3 a minute: the ledger says there is room for a second


def test_tokens_per_minute_hold_the_prompt_and_max_tokens_together(tmp_path):
    # GIVEN 1100 tokens a minute for an API key's caller (anonymous visitors have limits of their own) WHEN a call of 1000 prompt tokens and max_tokens 100 is admitted
    meter = meter_for(tmp_path, tokens_per_minute=1100)
    open_call(meter, identity="key:a")
    # THEN it holds the whole minute's tokens: a call of one more token is refused, naming the limit
    with pytest.raises(RateLimitExceeded) as refused:
        open_call(meter, identity="key:a", prompt_tokens=1, max_tokens=0)
    assert (refused.value.rate, refused.value.limit, refused.value.used) == ("tokens_per_minute", 1100, 1100)
    assert "tokens per minute" in refused.value.message


def test_a_request_larger_than_the_tokens_per_minute_is_refused_without_a_time_to_retry(tmp_path):
    # GIVEN 1000 tokens a minute WHEN a call's worst case alone is 1100 (1000 prompt tokens, max_tokens 100)
    meter = meter_for(tmp_path, tokens_per_minute=1000)
    with pytest.raises(RateLimitExceeded) as refused:
        open_call(meter, identity="key:a")
    # THEN no minute can take it: no Retry-After, and the SDKs are told not to retry; the message says what to lower
    assert (refused.value.rate, refused.value.limit, refused.value.retry_after) == ("tokens_per_minute", 1000, None)
    assert refused.value.headers() == {"x-should-retry": "false"}
    assert "alone" in refused.value.message and "max_tokens" in refused.value.message
    # AND a call that fits a minute is still refused with the time to the next one
    open_call(meter, identity="key:b", prompt_tokens=600, max_tokens=0)
    with pytest.raises(RateLimitExceeded) as later:
        open_call(meter, identity="key:b", prompt_tokens=600, max_tokens=0)
    assert 1 <= later.value.retry_after <= 60 and "retry-after" in later.value.headers()


def test_a_request_over_the_requests_per_minute_is_refused_naming_the_limit(tmp_path):
    meter = meter_for(tmp_path, requests_per_minute=1)
    open_call(meter, identity="key:a")
    with pytest.raises(RateLimitExceeded) as refused:
        open_call(meter, identity="key:a")
    assert (refused.value.rate, refused.value.limit, refused.value.used) == ("requests_per_minute", 1, 1)
    assert "requests per minute" in refused.value.message
    assert 1 <= refused.value.retry_after <= 60


@pytest.mark.parametrize(("second", "retry_after"), [(0, 60), (30, 30), (59, 1)])
def test_a_rate_refusal_says_to_retry_when_the_next_minute_starts(second, retry_after):
    assert seconds_until_next_minute(datetime(2026, 11, 26, 10, 5, second, 999_999, tzinfo=UTC)) == retry_after


def test_budget_leases_are_off_without_a_usage_table(tmp_path):
    from airelay.usage import open_ledger

    # GIVEN BUDGET_LEASES on, but no USAGE_TABLE (the local stack) THEN the ledger is the SQLite file, without leases
    ledger = open_ledger(Settings(budget_leases=True, usage_db_path=str(tmp_path / "usage.sqlite3")))
    assert type(ledger) is SqliteLedger
