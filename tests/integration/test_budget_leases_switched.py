"""A UTC day on which BUDGET_LEASES is turned on or off (old and new versions of the functions serve side by side while
a deploy rolls out), on a real DynamoDB API (moto server, dynalite) with 4 shards: the usage report counts each call
of the day once, whichever ledger settled it, by day, by model and by caller, and agrees with the budget."""

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.report import build_report
from tests.support.aws import create_table_from_template, local_clients

from .test_budget_leases import dynalite_endpoint, moto_endpoint

__all__ = ["dynalite_endpoint", "moto_endpoint"]  # the fixtures of test_budget_leases.py, shared

MODEL = "openai/gpt-4o-mini"
SETTINGS = Settings(daily_budget_usd=Decimal("10"), identity_daily_budget_usd=Decimal("1"))


@pytest.fixture(params=["moto", "dynalite"])
def table(request):
    clients = local_clients(request.getfixturevalue(f"{request.param}_endpoint"))
    return clients, create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")


def meter_of(leases: bool, clients, table: str) -> Meter:
    store = (DynamoLeases if leases else DynamoLedger)(table, clients, shards=4)
    return Meter(LeasedLedger(store, 30.0) if leases else store, load_prices(), SETTINGS)


def one_call(meter: Meter, identity: str) -> None:
    async def call():
        opened = await meter.open(
            request_id="r", identity=identity, function="chat", model_id=MODEL, prompt_tokens=200, max_tokens=100
        )
        await meter.close(opened, Usage(100, 50, 0, False), "ok")

    asyncio.run(call())
    if isinstance(meter.ledger, LeasedLedger):
        meter.ledger.give_back_all()  # the environment ends: its lease comes back


def reports(meter: Meter) -> dict[str, dict]:
    today = datetime.now(UTC).date()
    return {by: build_report(meter, today, today, by) for by in ("day", "model", "identity")}


def assert_each_call_counted_once(by: dict[str, dict]) -> None:
    callers = by["identity"]["rows"]
    assert sum(row["calls"] for row in callers) == 2
    assert by["day"]["total"]["calls"] == 2
    assert by["day"]["total"]["cost_usd"] == pytest.approx(sum(row["cost_usd"] for row in callers))
    assert by["day"]["total"]["cost_usd"] == pytest.approx(by["day"]["budget"]["used_usd"])
    assert [(row["key"], row["calls"]) for row in by["model"]["rows"]] == [(MODEL, 2)]
    assert by["model"]["rows"][0]["cost_usd"] == pytest.approx(by["day"]["total"]["cost_usd"])


def test_turning_budget_leases_on_during_a_day_counts_each_call_once(table):
    """Spend by model, the day's total and the callers' rows each count a call settled before BUDGET_LEASES was
    turned on, and one settled after, once: the day's totals are summed from the callers' counters, which both
    ledgers write, not from the `total` item, which only the plain ledger adds a call's figures to."""
    clients, name = table
    # GIVEN one call settled by the plain ledger, then one under budget leases, on the same day
    one_call(meter_of(False, clients, name), "key:before")
    leased = meter_of(True, clients, name)
    one_call(leased, "key:after")
    # WHEN the operator reads today's report by day, by model and by caller
    # THEN every view counts the two calls once each, and the total is the budget's used spend
    assert_each_call_counted_once(reports(leased))


def test_turning_budget_leases_off_during_a_day_keeps_the_calls_settled_under_leases(table):
    """After BUDGET_LEASES is turned off mid-day, the plain ledger's report still counts the calls settled under
    leases (which never added their figures to the day's `total` item), by day and by model, in agreement with the
    callers' rows and the budget's used spend."""
    clients, name = table
    # GIVEN one call settled under budget leases, then one by the plain ledger, on the same day
    one_call(meter_of(True, clients, name), "key:before")
    plain = meter_of(False, clients, name)
    one_call(plain, "key:after")
    # WHEN the operator reads today's report by day, by model and by caller
    # THEN every view counts the two calls once each, and the total is the budget's used spend
    assert_each_call_counted_once(reports(plain))
