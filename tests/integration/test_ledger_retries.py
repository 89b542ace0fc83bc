"""Exact under retries: every ledger write whose response is lost after DynamoDB applied it is sent again by the
SDK (as after a read timeout), and the totals still count each call once. Through the real adapter and botocore's
own retry path, against moto server and dynalite."""

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import pytest

from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import TOTAL, OverLimit, identity_key, model_key, requests_key, tokens_key
from airelay.usage.limits import LimitBook
from tests.support.aws import create_table_from_template, dynalite_server, local_clients, moto_server

from .test_ledger_contract import row

CALLS = 360
IDENTITIES = ("visitor:a", "visitor:b", "user:c", "ip:203.0.113.9")
NOW = "2026-11-26T10:00:00+00:00"


class DroppedResponses:
    """A botocore `needs-retry` hook: after a write's first attempt succeeded, it asks for a retry, as if the
    response had been lost on the way back. The SDK then sends the same write again."""

    def __init__(self) -> None:
        self.dropped = 0
        self._lock = threading.Lock()

    def __call__(self, response, attempts, caught_exception, **_):
        if caught_exception is None and response is not None and response[0].status_code == 200 and attempts == 1:
            with self._lock:
                self.dropped += 1
            return 0  # retry at once
        return None

    def attach(self, client) -> None:
        for operation in ("UpdateItem", "PutItem"):
            client.meta.events.register(f"needs-retry.dynamodb.{operation}", self)


@pytest.fixture(params=["moto", "dynalite"])
def endpoint(request):
    if request.param == "moto":
        with pytest.MonkeyPatch.context() as patch, moto_server(patch) as url:
            yield url
    else:
        with dynalite_server() as url:
            yield url


def test_writes_retried_after_they_landed_leave_every_total_exact(endpoint):
    # GIVEN the real DynamoDB ledger, every write of which has its first response dropped and is sent again
    clients = local_clients(endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    ledger, faults = DynamoLedger(table, clients), DroppedResponses()
    faults.attach(clients.dynamodb)
    book = LimitBook(
        Settings(
            daily_budget_usd=Decimal("1.5"),
            identity_daily_budget_usd=Decimal(1),
            visitor_requests_per_minute=60,
            visitor_tokens_per_minute=40_000,
        )
    )
    now, rng = datetime.fromisoformat(NOW), random.Random(15)
    plans = [(rng.choice(IDENTITIES), Decimal(rng.randint(1, 9)) / 1000, rng.randint(50, 400)) for _ in range(CALLS)]
    settled, refused, lock = [], [], threading.Lock()

    def one_call(plan):
        identity, cost, tokens = plan
        call, holds = uuid.uuid4().hex, book.holds(identity, now, Decimal("0.01"), 1000)
        try:
            ledger.reserve(call, holds)
        except OverLimit as over:
            with lock:
                refused.append(over.hold.name)
            return
        used = row(identity=identity, call_id=call, cost=str(cost), prompt_tokens=tokens, cached_tokens=0)
        ledger.settle(used, holds)
        with lock:
            settled.append(used)

    # WHEN 360 calls from four identities reserve and settle, four at a time
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one_call, plans))

    # THEN more than 1,000 writes were applied twice over the wire
    assert faults.dropped >= 1000
    # AND the totals are exactly the settled calls, with no hold left over
    day = ledger.day_totals("2026-11-26")
    assert settled and len(settled) + len(refused) == CALLS
    total = day[TOTAL]
    assert (total.calls, total.spent, total.committed) == (len(settled), sum(r.cost_usd for r in settled), total.spent)
    assert total.committed <= Decimal("1.5")
    assert day[model_key("openai/gpt-4o-mini")].calls == len(settled)
    assert sorted(r.call_id for r in ledger.rows("2026-11-26")) == sorted(r.call_id for r in settled)
    minute = "2026-11-26T10:00"
    for identity in IDENTITIES:
        mine = [r for r in settled if r.identity == identity]
        counter = day.get(identity_key(identity))
        assert (counter.calls, counter.spent, counter.committed) == (
            len(mine),
            sum(r.cost_usd for r in mine),
            counter.spent,
        )
        if identity.startswith(("visitor:", "ip:")):  # limited per minute: each admitted call once, tokens as used
            assert ledger.committed(minute, requests_key(identity)) == len(mine) <= 60
            assert ledger.committed(minute, tokens_key(identity)) == sum(r.counted_tokens for r in mine)
    # AND what was refused, was refused for a limit it would really have passed
    assert set(refused) <= {"global", "requests_per_minute", "tokens_per_minute"}


def test_the_fault_is_real_a_plain_add_counts_twice(endpoint):
    # GIVEN the same hook on a client WHEN a plain ADD (what the ledger used to send) is made 5 times
    clients = local_clients(endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    DroppedResponses().attach(clients.dynamodb)
    key = {"pk": {"S": "DAY#2026-11-26"}, "sk": {"S": TOTAL}}
    for _ in range(5):
        clients.dynamodb.update_item(
            TableName=table, Key=key, UpdateExpression="ADD calls :one", ExpressionAttributeValues={":one": {"N": "1"}}
        )
    # THEN each landed twice: the retry reached the server
    item = clients.dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["calls"]["N"] == "10"
