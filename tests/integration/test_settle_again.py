"""A settlement whose write to the caller's counter fails after the SDK's retries is kept by the meter and settled
again before a later call: through the real DynamoDB adapter (with and without budget leases) and botocore, against
moto server and dynalite, the call is counted once, its row written once, its hold released once."""

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.exceptions import ConnectTimeoutError

from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pending import PendingSettles
from airelay.usage.pricing import load_prices
from tests.support.aws import create_table_from_template, local_clients

from .test_ledger_retries import endpoint  # noqa: F401 - the fixture: moto server, then dynalite


class CallerCounterDown:
    """A botocore `before-send` hook: while on, the settling write to a caller's counter never reaches the server
    (a connect timeout on every attempt)."""

    def __init__(self) -> None:
        self.on = False
        self.failed = 0

    def __call__(self, request, **_):
        body = json.loads(request.body)
        settling = body["UpdateExpression"].startswith("REMOVE #hold ADD committed")
        if self.on and settling and body["Key"]["sk"]["S"].startswith("id:"):
            self.failed += 1
            raise ConnectTimeoutError(endpoint_url=request.url)

    def attach(self, client) -> None:
        client.meta.events.register("before-send.dynamodb.UpdateItem", self)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(meter: Meter):
    return asyncio.run(
        meter.open(
            request_id="r", identity="key:a", function="chat", model_id="openai/gpt-4o-mini", prompt_tokens=900,
            max_tokens=100,
        )
    )  # fmt: skip


def close(meter: Meter, opened) -> Decimal:
    return asyncio.run(meter.close(opened, Usage(prompt_tokens=300, completion_tokens=20), "ok"))


@pytest.mark.parametrize("leases", [False, True], ids=["plain", "leases"])
def test_a_settlement_that_failed_is_settled_again_once(endpoint, monkeypatch, leases):  # noqa: F811
    # GIVEN the meter on the real DynamoDB ledger, the SDK making one attempt per write
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    clients = local_clients(endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    ledger = LeasedLedger(DynamoLeases(table, clients, shards=4)) if leases else DynamoLedger(table, clients)
    down = CallerCounterDown()
    down.attach(clients.dynamodb)
    meter = Meter(ledger, load_prices(), Settings(daily_budget_usd=Decimal(1), identity_daily_budget_usd=Decimal(1)))
    clock = Clock()
    meter.pending = PendingSettles(clock, random.Random(3))
    day = datetime.now(UTC).date().isoformat()
    # WHEN a call's settlement cannot reach its caller's counter
    first = call(meter)
    worst = first.holds[1].amount
    down.on = True
    cost = close(meter, first)
    # THEN the caller's counter still holds the call's worst case, and the settlement waits
    assert down.failed == 1 and len(meter.pending) == 1
    assert ledger.committed(day, identity_key("key:a")) == worst
    # WHEN the counter answers again and the next call comes after the wait
    down.on, clock.now = False, 1.0
    second = call(meter)
    close(meter, second)
    # THEN both calls are counted once, with their rows, and nothing is held any more
    assert len(meter.pending) == 0
    totals = ledger.day_totals(day)
    mine, overall = totals[identity_key("key:a")], totals[TOTAL]
    assert (mine.calls, mine.spent, mine.committed) == (2, 2 * cost, 2 * cost)
    assert (overall.calls, overall.spent) == (2, 2 * cost)
    assert sorted(row.call_id for row in ledger.rows(day)) == sorted((first.call_id, second.call_id))
