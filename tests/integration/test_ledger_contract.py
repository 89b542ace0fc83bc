"""One contract for every usage ledger: SQLite, DynamoDB on moto server, DynamoDB on dynalite. Here: holding and
settling calls on the budgets and the per-minute limits, and the rows; the totals the ledger reads back are in
test_ledger_contract_totals.py, which shares this module's `ledger` and helpers."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from airelay.settings import Settings
from airelay.usage import open_ledger
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import (
    REQUESTS,
    TOKENS,
    TOTAL,
    USD,
    Hold,
    OverLimit,
    UsageRow,
    caller_model_key,
    identity_key,
    model_key,
    requests_key,
    tokens_key,
)
from airelay.usage.sqlite import SqliteLedger
from tests.support.aws import create_table_from_template, dynalite_server, local_clients, moto_server

DAY = "2026-11-26"
D = Decimal


@pytest.fixture(scope="module")
def moto_endpoint():
    with pytest.MonkeyPatch.context() as patch, moto_server(patch) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def dynalite_endpoint():
    with dynalite_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["sqlite", "moto", "dynalite"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        return SqliteLedger(tmp_path / "usage.sqlite3")
    endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    clients = local_clients(endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return DynamoLedger(table, clients)


def row(identity="ip:1.2.3.4", model="openai/gpt-4o-mini", cost="0.001", status="ok", **extra):
    values = dict(
        call_id=uuid.uuid4().hex,
        request_id="req-1",
        at=f"{DAY}T10:00:00.000+00:00",
        day=DAY,
        identity=identity,
        function="chat",
        provider=model.split("/")[0],
        model=model,
        prompt_tokens=10,
        cached_tokens=2,
        completion_tokens=5,
        cost_usd=D(cost),
        latency_ms=12,
        status=status,
        estimated=False,
    )
    values.update(extra)
    return UsageRow(**values)


MINUTE = f"{DAY}T10:00"


def holds(total="1", mine="0.5", identity="ip:1.2.3.4", amount="0.3"):
    return [
        Hold(DAY, TOTAL, USD, D(amount), D(total), "global"),
        Hold(DAY, identity_key(identity), USD, D(amount), D(mine), "caller"),
    ]


def rate_holds(identity="ip:1.2.3.4", requests="2", tokens="1000", worst="600", minute=MINUTE):
    return [
        Hold(minute, requests_key(identity), REQUESTS, D(1), D(requests), "requests_per_minute"),
        Hold(minute, tokens_key(identity), TOKENS, D(worst), D(tokens), "tokens_per_minute"),
    ]


def call_id() -> str:
    return uuid.uuid4().hex


def test_reserve_within_the_limits_holds_the_amount_on_both_counters(ledger):
    ledger.reserve(call_id(), holds())
    totals = ledger.day_totals(DAY)
    assert totals[TOTAL].committed == D("0.3") and totals[identity_key("ip:1.2.3.4")].committed == D("0.3")
    assert totals[TOTAL].spent == 0


def test_reserve_over_a_limit_is_refused_all_or_nothing(ledger):
    ledger.reserve(call_id(), holds(amount="0.4"))
    with pytest.raises(OverLimit) as refused:
        ledger.reserve(call_id(), holds(amount="0.2") + rate_holds())  # total would be 0.6 <= 1, mine 0.6 > 0.5
    assert refused.value.hold.key == identity_key("ip:1.2.3.4") and refused.value.hold.name == "caller"
    assert refused.value.committed == D("0.4")
    assert ledger.day_totals(DAY)[TOTAL].committed == D("0.4")  # the total hold was released
    assert ledger.committed(MINUTE, requests_key("ip:1.2.3.4")) == 0  # and so were this minute's
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == 0


def test_reserve_exactly_up_to_the_limit_is_allowed(ledger):
    ledger.reserve(call_id(), holds(mine="1", amount="0.5"))
    ledger.reserve(call_id(), holds(mine="1", amount="0.5"))
    with pytest.raises(OverLimit):
        ledger.reserve(call_id(), holds(mine="1", amount="0.000001"))


def test_on_a_fresh_day_exactly_the_limit_is_allowed_and_a_nano_dollar_more_is_not(ledger):
    with pytest.raises(OverLimit):
        ledger.reserve(call_id(), holds(total="1", mine="1", amount="1.000000001"))
    assert ledger.day_totals(DAY).get(TOTAL) is None or ledger.day_totals(DAY)[TOTAL].committed == 0
    ledger.reserve(call_id(), holds(total="1", mine="1", amount="1"))
    assert ledger.day_totals(DAY)[TOTAL].committed == D("1")
    with pytest.raises(OverLimit) as refused:
        ledger.reserve(call_id(), holds(total="1", mine="2", amount="0.000000001"))
    assert refused.value.hold.name == "global" and refused.value.committed == D("1")


def test_a_single_request_larger_than_the_limit_is_refused(ledger):
    with pytest.raises(OverLimit):
        ledger.reserve(call_id(), holds(amount="2"))
    assert ledger.day_totals(DAY).get(TOTAL) is None or ledger.day_totals(DAY)[TOTAL].committed == 0


def test_settle_releases_the_hold_and_adds_the_real_cost(ledger):
    call, taken = call_id(), holds()
    ledger.reserve(call, taken)
    ledger.settle(row(cost="0.0123", call_id=call), taken)
    totals = ledger.day_totals(DAY)
    mine_on_mini = caller_model_key("ip:1.2.3.4", "openai/gpt-4o-mini")
    for key in (TOTAL, identity_key("ip:1.2.3.4"), model_key("openai/gpt-4o-mini"), mine_on_mini):
        assert totals[key].spent == D("0.0123"), key
        assert totals[key].committed == D("0.0123"), key
        assert (
            totals[key].calls,
            totals[key].prompt_tokens,
            totals[key].cached_tokens,
            totals[key].completion_tokens,
        ) == (1, 10, 2, 5)


def test_requests_per_minute_count_every_admitted_call_settled_or_not(ledger):
    # GIVEN two requests a minute WHEN three calls come in the same minute
    first, second = call_id(), call_id()
    ledger.reserve(first, holds(amount="0") + rate_holds(tokens="10000"))
    ledger.reserve(second, holds(amount="0") + rate_holds(tokens="10000"))
    ledger.settle(row(call_id=first, cost="0"), holds(amount="0") + rate_holds(tokens="10000"))
    # THEN the third is refused on requests per minute, though the first has finished
    with pytest.raises(OverLimit) as refused:
        ledger.reserve(call_id(), holds(amount="0") + rate_holds(tokens="10000"))
    assert refused.value.hold.name == "requests_per_minute" and refused.value.committed == 2
    # AND the next minute starts again from nothing
    ledger.reserve(call_id(), holds(amount="0") + rate_holds(tokens="10000", minute=f"{DAY}T10:01"))
    assert ledger.committed(f"{DAY}T10:01", requests_key("ip:1.2.3.4")) == 1


@pytest.mark.parametrize("clock", ["00:00", "00:06", "00:07", "00:12", "23:59"])
def test_the_first_minutes_of_a_day_hold_and_settle_like_any_other(ledger, clock):
    # GIVEN a call in a minute whose stale minutes (7 to 12 before) are on the day before, some or all of them
    minute, first = f"{DAY}T{clock}", call_id()
    # WHEN it is reserved and settled, and a second call comes in the same minute
    ledger.reserve(first, holds(amount="0") + rate_holds(minute=minute))
    ledger.settle(row(call_id=first, cost="0"), holds(amount="0") + rate_holds(minute=minute))
    ledger.reserve(call_id(), holds(amount="0") + rate_holds(minute=minute))
    # THEN both count against that minute (no write is malformed for want of a minute to clear)
    assert ledger.committed(minute, requests_key("ip:1.2.3.4")) == 2


def test_tokens_per_minute_hold_the_worst_case_and_settle_to_what_was_used(ledger):
    # GIVEN 1000 tokens a minute, and a call holding its worst case of 600
    call = call_id()
    ledger.reserve(call, holds(mine="1") + rate_holds(requests="10"))
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == 600
    # THEN a second worst case of 600 does not fit while the first is in flight
    with pytest.raises(OverLimit) as refused:
        ledger.reserve(call_id(), holds(mine="1") + rate_holds(requests="10"))
    assert refused.value.hold.name == "tokens_per_minute" and refused.value.committed == 600
    # WHEN the first settles having used 10 prompt tokens (2 of them cached) and 5 completion tokens
    ledger.settle(row(call_id=call), holds(mine="1") + rate_holds(requests="10"))
    # THEN the minute counts 13 (cached prompt tokens are not counted), and the second call fits
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == 13
    ledger.reserve(call_id(), holds(mine="1") + rate_holds(requests="10"))
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == 613


def test_reserving_or_settling_a_call_again_changes_nothing(ledger):
    # GIVEN a call reserved twice, then settled twice
    call, taken = call_id(), holds() + rate_holds()
    ledger.reserve(call, taken)
    ledger.reserve(call, taken)
    assert ledger.day_totals(DAY)[TOTAL].committed == D("0.3")
    ledger.settle(row(call_id=call, cost="0.01"), taken)
    ledger.settle(row(call_id=call, cost="0.01"), taken)
    # THEN it counts once everywhere
    totals = ledger.day_totals(DAY)
    for key in (TOTAL, identity_key("ip:1.2.3.4"), model_key("openai/gpt-4o-mini")):
        assert (totals[key].calls, totals[key].spent, totals[key].committed) == (1, D("0.01"), D("0.01")), key
    assert ledger.committed(MINUTE, requests_key("ip:1.2.3.4")) == 1
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == 13
    assert len(ledger.rows(DAY)) == 1


def test_a_free_call_holds_nothing_and_is_counted_once(ledger):
    call, taken = call_id(), holds(amount="0")
    ledger.reserve(call, taken)
    ledger.settle(row(call_id=call, cost="0", model="local/use-multilingual"), taken)
    ledger.settle(row(call_id=call, cost="0", model="local/use-multilingual"), taken)
    total = ledger.day_totals(DAY)[TOTAL]
    assert (total.calls, total.spent, total.committed) == (1, 0, 0)


def test_failed_and_cancelled_calls_are_counted_apart_and_rows_round_trip(ledger):
    first = row(status="ok", at=f"{DAY}T10:00:00.000+00:00")
    second = row(status="cancelled", cost="0.0000015", estimated=True, at=f"{DAY}T10:00:01.000+00:00")
    third = row(status="error", model="openai/gpt-4.1", at=f"{DAY}T10:00:02.000+00:00")
    for call in (first, second, third):
        ledger.settle(call)
    totals = ledger.day_totals(DAY)
    assert (totals[TOTAL].calls, totals[TOTAL].errors, totals[TOTAL].cancelled) == (3, 1, 1)
    assert (totals[identity_key("ip:1.2.3.4")].errors, totals[identity_key("ip:1.2.3.4")].cancelled) == (1, 1)
    mini, big = totals[model_key("openai/gpt-4o-mini")], totals[model_key("openai/gpt-4.1")]
    assert (mini.errors, mini.cancelled, big.errors, big.cancelled) == (0, 1, 1, 0)
    stored = ledger.rows(DAY)
    assert [r.call_id for r in stored] == [third.call_id, second.call_id, first.call_id]  # newest first
    assert stored == [third, second, first]


def test_concurrent_reserves_never_pass_the_limit(ledger):
    # GIVEN a $1 budget WHEN 40 threads each try to hold $0.07 at once
    admitted, barrier = [], threading.Barrier(8)

    def attempt(i):
        if i < 8:
            barrier.wait()
        try:
            ledger.reserve(call_id(), [Hold(DAY, TOTAL, USD, D("0.07"), D("1"), "global")])
            admitted.append(i)
        except OverLimit:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(attempt, range(40)))
    # THEN exactly floor(1 / 0.07) = 14 are admitted and the counter holds exactly their sum
    assert len(admitted) == 14
    assert ledger.day_totals(DAY)[TOTAL].committed == D("0.07") * 14


def test_a_usage_table_setting_opens_the_dynamodb_ledger_from_the_sdk_environment(moto_endpoint):
    # moto_server() set AWS_ENDPOINT_URL, the region and keys, as Lambda sets the region and keys
    table = create_table_from_template(local_clients(moto_endpoint).dynamodb, "UsageTable", "usage-from-environment")
    ledger = open_ledger(Settings(usage_table=table))
    assert isinstance(ledger, DynamoLedger) and ledger.aws.dynamodb.meta.endpoint_url == moto_endpoint
    call, taken = call_id(), holds(amount="0.2")
    ledger.reserve(call, taken)
    ledger.settle(row(cost="0.05", call_id=call), taken)
    assert (ledger.day_totals(DAY)[TOTAL].spent, ledger.day_totals(DAY)[TOTAL].committed) == (D("0.05"), D("0.05"))


def test_limits_far_beyond_any_count_hold_and_never_refuse(ledger):
    # a per-minute limit of 10^12 tokens (a benchmark's "never binds") is 10^21 nano units, past SQLite's INTEGER
    ledger.reserve(call_id(), rate_holds(requests=str(10**9), tokens=str(10**12), worst="1060"))
    assert ledger.committed(MINUTE, tokens_key("ip:1.2.3.4")) == D(1060)
