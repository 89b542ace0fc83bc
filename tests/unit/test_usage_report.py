"""The usage report over a SQLite ledger: a day without calls reports zeros, and each settled call counts once, with
its tokens, its cost and what is left of the budgets."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, USD, Hold, UsageRow, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.report import build_report
from airelay.usage.sqlite import SqliteLedger

CALLER = "ip:203.0.113.7"
ZERO = {
    "calls": 0,
    "errors": 0,
    "cancelled": 0,
    "refused": 0,
    "prompt_tokens": 0,
    "cached_tokens": 0,
    "completion_tokens": 0,
    "cost_usd": 0.0,
    "cost_krw": 0.0,
}


class OwnCountersOnly(SqliteLedger):
    """The real SQLite ledger, which fails a read of a whole day's counters (every caller's)."""

    def day_totals(self, day: str):
        raise AssertionError("read every caller's counters")

    def totals_for_days(self, days: list[str]):
        raise AssertionError("read every caller's counters")


def meter_on(tmp_path, ledger=SqliteLedger) -> Meter:
    settings = Settings(daily_budget_usd=Decimal("2"), identity_daily_budget_usd=Decimal("0.5"))
    return Meter(ledger(tmp_path / "usage.sqlite3"), load_prices(), settings)


def settle_one(meter: Meter, day: str, status: str, identity: str = CALLER) -> None:
    reserved, cost = Decimal("0.01"), Decimal("0.004")
    holds = [
        Hold(day, TOTAL, USD, reserved, meter.daily_limit),
        Hold(day, identity_key(identity), USD, reserved, Decimal("0.5")),
    ]
    meter.ledger.reserve(f"c1-{identity}", holds)
    row = UsageRow(
        f"c1-{identity}", "r1", f"{day}T10:00:00.000+00:00", day, identity, "chat", "openai", "openai/gpt-4o-mini",
        prompt_tokens=100, cached_tokens=20, completion_tokens=30, cost_usd=cost, latency_ms=5, status=status,
        estimated=False,
    )  # fmt: skip
    meter.ledger.settle(row, holds)


def test_a_day_without_calls_reports_zeros_and_the_whole_budget(tmp_path):
    meter = meter_on(tmp_path)
    day = datetime.now(UTC).date()
    for identity in (CALLER, None):
        report = build_report(meter, day, day, "day", identity=identity)
        assert report["rows"] == [{"key": day.isoformat(), **ZERO}]
        assert report["total"] == {"key": "total", **ZERO}
    budget = build_report(meter, day, day, "day", identity=CALLER)["budget"]
    assert (budget["limit_usd"], budget["used_usd"], budget["remaining_usd"]) == (0.5, 0.0, 0.5)


def test_each_settled_call_counts_once_with_its_tokens_cost_and_budget_left(tmp_path):
    meter = meter_on(tmp_path)
    today = datetime.now(UTC).date()
    settle_one(meter, today.isoformat(), "error")
    report = build_report(meter, today - timedelta(days=1), today, "day", identity=CALLER)
    one = {**ZERO, "calls": 1, "errors": 1, "prompt_tokens": 100, "cached_tokens": 20, "completion_tokens": 30}
    one |= {"cost_usd": 0.004, "cost_krw": 5.6}
    assert report["rows"] == [
        {"key": (today - timedelta(days=1)).isoformat(), **ZERO},
        {"key": today.isoformat(), **one},
    ]
    assert report["total"] == {"key": "total", **one}
    assert report["budget"]["remaining_usd"] == 0.496
    everyone = build_report(meter, today, today, "day")
    assert everyone["total"] == {"key": "total", **one}
    assert everyone["budget"]["remaining_usd"] == 1.996


def test_the_operators_total_and_days_count_every_callers_refusals(tmp_path):
    # GIVEN one call, and three refusals of two callers today
    meter = meter_on(tmp_path)
    today = datetime.now(UTC).date()
    settle_one(meter, today.isoformat(), "ok")
    for identity in (CALLER, "ip:198.51.100.9", "ip:198.51.100.9"):
        meter.ledger.count_refusal(today.isoformat(), identity)
    # WHEN the operator reads today's report by caller and by day
    by_caller = build_report(meter, today, today, "identity", everyone=True)
    by_day = build_report(meter, today, today, "day", everyone=True)
    # THEN the total and the day's row count the refusals the callers' rows show
    assert sorted(row["refused"] for row in by_caller["rows"]) == [1, 2]
    assert by_caller["total"]["refused"] == by_day["total"]["refused"] == 3
    assert by_day["rows"][0]["refused"] == 3


def test_a_callers_report_reads_its_own_counters_only(tmp_path):
    # GIVEN this caller's call and another caller's call today, on a ledger that fails any read of a whole day
    meter = meter_on(tmp_path, ledger=OwnCountersOnly)
    today = datetime.now(UTC).date()
    settle_one(meter, today.isoformat(), "ok")
    settle_one(meter, today.isoformat(), "ok", identity="ip:198.51.100.9")
    meter.ledger.count_refusal(today.isoformat(), CALLER)
    # WHEN the caller reads its report by model and by day over the longest range
    start = today - timedelta(days=91)
    by_model = build_report(meter, start, today, "model", identity=CALLER)
    by_day = build_report(meter, start, today, "day", identity=CALLER)
    # THEN it has its own call and refusal, and its own budget
    assert [(row["key"], row["calls"]) for row in by_model["rows"]] == [("openai/gpt-4o-mini", 1)]
    assert (by_day["total"]["calls"], by_day["total"]["refused"], len(by_day["rows"])) == (1, 1, 92)
    assert by_day["budget"]["used_usd"] == 0.004
