"""Budget leases on a real DynamoDB API (moto server, dynalite) through boto3: slices granted within the limit,
calls held against them, unused parts given back once, an ended lease's undrawn part swept back."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import (
    REQUESTS,
    TOTAL,
    USD,
    Hold,
    OverLimit,
    UsageRow,
    caller_model_key,
    identity_key,
    model_key,
    requests_key,
)
from tests.support.aws import create_table_from_template, dynalite_server, local_clients, moto_server

DAY = "2026-12-04"
D = Decimal
MIDNIGHT = 1_796_342_400.0


class Clock:
    def __init__(self) -> None:
        self.now = MIDNIGHT + 3600

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def moto_endpoint():
    with pytest.MonkeyPatch.context() as patch, moto_server(patch) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def dynalite_endpoint():
    with dynalite_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["moto", "dynalite"])
def store(request):
    clients = local_clients(request.getfixturevalue(f"{request.param}_endpoint"))
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return DynamoLeases(table, clients, shards=4)


def row(cost: str, identity: str = "key:a", call_id: str = "") -> UsageRow:
    return UsageRow(
        call_id=call_id or uuid.uuid4().hex,
        request_id="req",
        at=f"{DAY}T01:00:00.000+00:00",
        day=DAY,
        identity=identity,
        function="chat",
        provider="openai",
        model="openai/gpt-4o-mini",
        prompt_tokens=10,
        cached_tokens=0,
        completion_tokens=5,
        cost_usd=D(cost),
        latency_ms=5,
        status="ok",
        estimated=False,
    )


def holds(amount: str, total: str = "1", mine: str = "1", identity: str = "key:a") -> list[Hold]:
    return [
        Hold(DAY, TOTAL, USD, D(amount), D(total), "global"),
        Hold(DAY, identity_key(identity), USD, D(amount), D(mine), "caller"),
    ]


def test_calls_on_a_lease_settle_once_and_the_rest_comes_back(store):
    # GIVEN an environment metering 30 calls of at most $0.01 on one busy budget
    clock = Clock()
    ledger = LeasedLedger(store, lease_seconds=30, clock=clock)
    for n in range(30):
        held = holds("0.01", identity=f"key:{n}")
        ledger.reserve(f"call-{n}", held)
        ledger.settle(row("0.004", identity=f"key:{n}", call_id=f"call-{n}"), held)
        clock.now += 0.1
    totals = store.day_totals(DAY)
    # THEN the lease covers more than was spent while it is open, and nothing after it is given back
    assert totals[TOTAL].spent == D("0.12") and totals[TOTAL].calls == 30
    assert totals[TOTAL].committed > totals[TOTAL].spent
    ledger.give_back_all()
    assert store.day_totals(DAY)[TOTAL].committed == D("0.12")
    assert len(store.rows(DAY)) == 30


def test_reserving_or_settling_a_call_again_changes_nothing(store):
    # GIVEN a call reserved and settled twice through a lease (a retried request, a retried settle)
    clock = Clock()
    ledger = LeasedLedger(store, lease_seconds=30, clock=clock)
    call = holds("0.02")
    ledger.reserve("call-1", call)
    ledger.reserve("call-1", call)
    ledger.settle(row("0.005", call_id="call-1"), call)
    ledger.settle(row("0.005", call_id="call-1"), call)
    ledger.give_back_all()
    # THEN it counts once, on the day's total and on its caller's counter
    totals = store.day_totals(DAY)
    assert totals[TOTAL].calls == 1 and totals[TOTAL].committed == totals[TOTAL].spent == D("0.005")
    assert totals[identity_key("key:a")].committed == D("0.005") and len(store.rows(DAY)) == 1


def test_a_caller_over_a_limit_is_refused_without_asking_its_counter_again(store):
    # GIVEN a caller whose $0.05 budget holds two $0.02 calls
    clock = Clock()
    ledger = LeasedLedger(store, lease_seconds=30, clock=clock)
    for n in range(2):
        ledger.reserve(f"call-{n}", holds("0.02", total="10", mine="0.05"))
    writes = []
    events = store.aws.dynamodb.meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", lambda params, **_: writes.append(params["Key"]))
    # WHEN it makes three more at once
    for n in range(2, 5):
        with pytest.raises(OverLimit) as refused:
            ledger.reserve(f"call-{n}", holds("0.02", total="10", mine="0.05"))
        assert refused.value.hold.key == identity_key("key:a") and refused.value.committed == D("0.04")
    # THEN only the first refusal asked the caller's counter
    assert [key["sk"]["S"] for key in writes].count(identity_key("key:a")) == 1


def test_environments_sharing_a_budget_never_pass_it(store):
    # GIVEN a $1 budget and 8 environments, each with its own leases WHEN each holds $0.03 calls until refused
    clock = Clock()
    envs = [LeasedLedger(store, lease_seconds=30, clock=clock) for _ in range(8)]
    admitted, lock, barrier = [], threading.Lock(), threading.Barrier(8)
    held = {}

    def work(env):
        barrier.wait()
        for n in range(20):
            call_id, held[call_id] = uuid.uuid4().hex, holds("0.03", mine="5", identity=f"key:{n}")
            try:
                env.reserve(call_id, held[call_id])
            except OverLimit:
                continue
            with lock:
                admitted.append((env, call_id))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, envs))
    # THEN what was admitted fits in the budget, and committed never passed it
    assert 0 < len(admitted) * D("0.03") <= D("1")
    assert store.day_totals(DAY)[TOTAL].committed <= D("1")
    for env, call_id in admitted:
        env.settle(row("0.03", identity=held[call_id][1].key[3:], call_id=call_id), held[call_id])
    for env in envs:
        env.give_back_all()
    total = store.day_totals(DAY)[TOTAL]
    assert total.committed == total.spent == len(admitted) * D("0.03")


def test_a_dead_environments_lease_comes_back_but_what_it_drew(store):
    # GIVEN an environment that took a lease, held one call and died
    clock = Clock()
    dead = LeasedLedger(store, lease_seconds=30, clock=clock)
    call = holds("0.02", total="16")
    dead.reserve("call-1", call)
    held = store.day_totals(DAY)[TOTAL].committed
    assert held > D("0.02")
    # WHEN the lease has ended and another environment sweeps
    clock.now += 31
    released = store.sweep(DAY, clock(), clock() - 600)
    # THEN all but what the dead one drew comes back, once
    committed = store.day_totals(DAY)[TOTAL].committed
    assert released > 0 and committed == held - released and committed >= D("0.02")
    assert store.sweep(DAY, clock(), clock() - 600) == 0
    # AND had its holder lived on, settling gives back only the drawn part it did not use
    dead.settle(row("0.01", call_id="call-1"), call)
    dead.give_back_all()
    total = store.day_totals(DAY)[TOTAL]
    assert total.committed == total.spent == D("0.01")


def test_the_days_totals_by_model_count_a_caller_whose_identity_has_a_bar(store):
    # GIVEN calls through a lease of a signed-in user whose identity has a "|" (Auth0's "auth0|<id>"), and of a key
    ledger = LeasedLedger(store, lease_seconds=30, clock=Clock())
    for n, identity in enumerate(("user:auth0|5f7c8ec7", "user:auth0|5f7c8ec7", "key:a")):
        held = holds("0.01", identity=identity)
        ledger.reserve(f"call-{n}", held)
        ledger.settle(row("0.004", identity=identity, call_id=f"call-{n}"), held)
    # WHEN the day's totals are read
    totals = ledger.day_totals(DAY)
    # THEN the model's total counts all three calls, and no model is made up of the identity's parts
    assert sorted(key for key in totals if key.startswith("model:")) == [model_key("openai/gpt-4o-mini")]
    assert totals[model_key("openai/gpt-4o-mini")].calls == 3


def test_a_callers_own_totals_are_its_counters_as_without_leases(store):
    # GIVEN two callers' calls through a lease, and a refusal of the first
    ledger = LeasedLedger(store, lease_seconds=30, clock=Clock())
    for n, identity in enumerate(("key:a", "key:b")):
        held = holds("0.01", identity=identity)
        ledger.reserve(f"call-{n}", held)
        ledger.settle(row("0.004", identity=identity, call_id=f"call-{n}"), held)
    ledger.count_refusal(DAY, "key:a")
    ledger.give_back_all()
    # WHEN the first caller's own totals of the day and the day before are read
    before, today = ledger.caller_totals("key:a", ["2026-12-03", DAY])
    # THEN they are its counter and its counter by model, its refusal included, and nothing of the other caller
    assert before == {}
    assert set(today) == {identity_key("key:a"), caller_model_key("key:a", "openai/gpt-4o-mini")}
    own = today[identity_key("key:a")]
    assert (own.calls, own.spent, own.refused) == (1, D("0.004"), 1)


def test_refusals_of_minutes_and_days_that_ended_are_not_remembered_for_ever(store, monkeypatch):
    # GIVEN an environment living four hours across midnight, whose callers have no room left: one none a minute
    # for its requests, one none a day for its dollars (each refusal is remembered, so the next call is refused
    # without asking the counter)
    clock, asked = Clock(), []
    clock.now = MIDNIGHT - 2 * 3600
    ledger = LeasedLedger(store, lease_seconds=30, clock=clock)
    reserve = store.reserve
    monkeypatch.setattr(store, "reserve", lambda call_id, holds: asked.append(call_id) or reserve(call_id, holds))
    for _ in range(4 * 60):
        minute = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="minutes")[:16]
        requests = Hold(minute, requests_key("key:a"), REQUESTS, D(1), D(0), "requests_per_minute")
        budget = Hold(minute[:10], identity_key("key:b"), USD, D("0.01"), D(0), "caller")
        for hold in (requests, requests, budget):
            with pytest.raises(OverLimit):
                ledger.reserve(uuid.uuid4().hex, [hold])
        clock.now += 60
    # THEN each minute's second request was refused from memory (the dollars' refusal is remembered for under a
    # minute), and what is remembered is of the last minutes and of today, not of every minute and day lived through
    assert len(asked) == 2 * 4 * 60
    assert len(ledger._refused) <= 4


def test_the_local_api_with_budget_leases_never_passes_the_daily_budget(local_api, dynalite_endpoint):
    # GIVEN the local API on DynamoDB (dynalite) with BUDGET_LEASES and 4 shards, a daily budget of 3.5 worst cases
    # and an upstream that spends all it is allowed
    from tests.integration.conftest import Ledger
    from tests.integration.test_budget_promises import CALLS, budget_for, fire, settled, start_api, worst_case
    from tests.support.upstream import FakeUpstream, Spend

    clients = local_clients(dynalite_endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    environment = {"USAGE_TABLE": table, "AWS_ENDPOINT_URL": dynalite_endpoint, "AWS_REGION": "us-east-1"}
    environment |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "t"}
    environment |= {"BUDGET_LEASES": "true", "USAGE_SHARDS": "4"}
    limit, worst = budget_for(3), worst_case()
    with FakeUpstream(gate=threading.Event(), behaviour=Spend()) as upstream:
        api = start_api(local_api, upstream, Ledger(None, environment), DAILY_BUDGET_USD=limit)
        # WHEN 24 calls arrive together
        responses = fire(api, [{}] * CALLS, upstream, admitted=3)
    # THEN 3 are admitted, the rest refused for the budget, and once the lease is back committed equals spent
    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * (CALLS - 3)
    rows, totals = settled(DynamoLeases(table, clients, shards=4), 3)
    assert len(rows) == 3 and totals.spent == 3 * worst <= limit and totals.committed == totals.spent
