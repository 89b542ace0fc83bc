"""With budget leases (BUDGET_LEASES), refusals are counted in memory and written by the environment's first call or
refusal a few seconds after the last write (docs/architecture.md, usage/leases.py), so a burst's refusals reach
/api/usage's `refused` (the dashboard's "Callers today", an operator's top callers) even when that caller is not
refused again."""

import uuid
from decimal import Decimal

import pytest

from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, USD, Hold, UsageRow, identity_key
from tests.integration.test_budget_leases import DAY, Clock, moto_endpoint  # noqa: F401 - a fixture
from tests.support.aws import create_table_from_template, local_clients

VISITOR = "ip:198.51.100.7@k3y1d"


@pytest.fixture
def store(moto_endpoint):  # noqa: F811
    clients = local_clients(moto_endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return DynamoLeases(table, clients)


def free_call(ledger: LeasedLedger, identity: str) -> None:
    """One admitted call of a free model (no lease needed), reserved and settled in this environment."""
    call_id = uuid.uuid4().hex
    held = [
        Hold(DAY, TOTAL, USD, Decimal(0), Decimal(10), "global"),
        Hold(DAY, identity_key(identity), USD, Decimal(0), Decimal(1), "caller"),
    ]
    ledger.reserve(call_id, held)
    row = UsageRow(
        call_id=call_id,
        request_id="req",
        at=f"{DAY}T01:02:00.000+00:00",
        day=DAY,
        identity=identity,
        function="chat",
        provider="local",
        model="local/smollm2-135m",
        prompt_tokens=10,
        cached_tokens=0,
        completion_tokens=5,
        cost_usd=Decimal(0),
        latency_ms=5,
        status="ok",
        estimated=False,
    )
    ledger.settle(row, held)


def test_a_burst_of_refusals_is_all_counted_once_the_environment_goes_on_working(store):
    # GIVEN an environment (budget leases on) that has run a while
    clock = Clock()
    environment = LeasedLedger(store, lease_seconds=30, clock=clock)
    clock.now += 10
    # WHEN it refuses one visitor three times within a second (a script past its requests per minute)
    for _ in range(3):
        environment.count_refusal(DAY, VISITOR)
        clock.now += 0.2
    # AND then goes on for a minute, serving other callers' calls, but never refuses that visitor again
    for _ in range(6):
        clock.now += 10
        free_call(environment, "key:srv")
    # THEN the usage report (another environment: the usage function, reading the visitor's own counter) counts
    # all three refusals, not only the first
    report_side = LeasedLedger(store, lease_seconds=30, clock=Clock())
    [today] = report_side.caller_totals(VISITOR, [DAY])
    assert today[identity_key(VISITOR)].refused == 3


class FailingOnce(DynamoLeases):
    """The table refuses the first refusal count written (throttled), then works."""

    failed = False

    def count_refusals(self, day, identity, times):
        if not self.failed:
            self.failed = True
            raise RuntimeError("throttled")
        super().count_refusals(day, identity, times)


def test_refusals_whose_write_fails_are_kept_and_the_call_that_writes_them_still_runs(store):
    failing = FailingOnce(store.table, store.aws)
    clock = Clock()
    environment = LeasedLedger(failing, lease_seconds=30, clock=clock)
    clock.now += 10
    with pytest.raises(RuntimeError):  # written at once (the last write is long ago): it fails (Meter logs it)
        environment.count_refusal(DAY, VISITOR)
    clock.now += 0.2
    environment.count_refusal(DAY, VISITOR)
    # WHEN a later call finds them due THEN it runs, and writes both
    clock.now += 10
    free_call(environment, "key:srv")
    [today] = LeasedLedger(store, lease_seconds=30, clock=Clock()).caller_totals(VISITOR, [DAY])
    assert failing.failed and today[identity_key(VISITOR)].refused == 2
