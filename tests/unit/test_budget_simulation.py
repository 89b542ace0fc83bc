"""The budget simulation, shortened: 100 environments making 1,000 paid calls a second for 12 virtual seconds
against the DynamoDB stand-in's per-partition-key limits, with a global and per-caller budgets and per-caller
requests and tokens per minute that run out, and environments that die holding leases. Every admitted call settles
(a settlement that fails is tried again) or is lost with its environment. The full run (1,000 environments, 10,000
calls a second, a minute) is `python -m bench --only scale`."""

from decimal import Decimal

import pytest

from tests.support.budget_sim import Scenario, run

SHORT = dict(
    envs=100,
    calls_per_s=1000,
    seconds=12,
    warm_up_s=4,
    shards=16,
    identities=2000,
    global_limit=Decimal("2.0"),
    identity_limit=Decimal("0.03"),
    requests_per_minute=90,
    tokens_per_minute=100_000,
    lease_seconds=20,
    deaths=0.05,
)


@pytest.fixture(scope="module")
def leased():
    return run(Scenario(design="leases", **SHORT))


def test_the_run_reaches_every_budget_and_loses_environments(leased):
    calls = leased["calls"]
    assert calls["refused_over_global_budget"] > 0 and calls["refused_over_caller_budget"] > 0
    assert calls["refused_over_caller_rates"] > 0
    assert calls["lost_with_environment"] > 0
    assert Decimal(leased["budget"]["spent_usd"]) > Decimal("0.8") * SHORT["global_limit"]


def test_leases_hold_budgets_exactly_and_settle_every_call_once(leased):
    exact, calls = leased["exactness"], leased["calls"]
    assert Decimal(exact["overshoot_global_usd"]) == 0 and Decimal(exact["overshoot_identities_usd"]) == 0
    assert exact["requests_over_rate"] == 0 and exact["tokens_over_rate"] == 0
    assert exact["lost_rows"] == 0 and exact["rows_of_unsettled_calls"] == 0
    assert exact["double_counted_calls"] == 0 and exact["uncounted_calls"] == 0
    assert Decimal(exact["ledger_spent_minus_rows_usd"]) == 0 and Decimal(exact["rows_minus_settled_usd"]) == 0
    assert calls["unsettled"] == 0
    assert calls["admitted"] == calls["settled"] + calls["lost_with_environment"]
    assert calls["settled_again"] == calls["settle_failed"] - calls["lost_waiting_to_settle_again"]


def test_leases_stay_under_the_partition_limits_and_strand_little(leased):
    assert leased["throttling"]["throttled_share_after_warm_up"] < 0.01
    assert leased["calls"]["refused_ledger_unavailable"] == 0
    assert leased["budget"]["stranded_share"] < 0.01


def test_the_stand_in_throttles_todays_design_at_the_same_load():
    # every counter of the day on one partition key, five writes a call: far past 1,000 writes a second on one key
    today = run(Scenario(design="today", **{**SHORT, "seconds": 5, "warm_up_s": 1}))
    assert today["throttling"]["throttled_share_after_warm_up"] > 0.1
    assert today["calls"]["refused_ledger_unavailable"] > 0 and today["calls"]["settle_failed"] > 0
    assert Decimal(today["exactness"]["overshoot_global_usd"]) == 0  # it refuses; it never overspends
