"""The ledger contract again with the day spread over several partition keys (USAGE_SHARDS=4), on moto server and
dynalite: the same answers as one partition key."""

import uuid

import pytest

from airelay.usage.dynamodb import DynamoLedger
from tests.integration.test_ledger_contract import (  # noqa: F401  (collected here, with this module's `ledger`)
    dynalite_endpoint,
    moto_endpoint,
    test_a_single_request_larger_than_the_limit_is_refused,
    test_concurrent_reserves_never_pass_the_limit,
    test_days_are_separate,
    test_each_caller_keeps_its_own_totals_per_model,
    test_each_model_keeps_its_own_totals,
    test_failed_and_cancelled_calls_are_counted_apart_and_rows_round_trip,
    test_reserve_exactly_up_to_the_limit_is_allowed,
    test_reserve_over_a_limit_is_refused_all_or_nothing,
    test_reserve_within_the_limits_holds_the_amount_on_both_counters,
    test_settle_releases_the_hold_and_adds_the_real_cost,
)
from tests.support.aws import create_table_from_template, local_clients


@pytest.fixture(params=["moto", "dynalite"])
def ledger(request):
    clients = local_clients(request.getfixturevalue(f"{request.param}_endpoint"))
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return DynamoLedger(table, clients, shards=4)


def test_the_day_is_spread_over_the_shards(ledger):
    from tests.integration.test_ledger_contract import DAY, row

    for _ in range(12):
        ledger.settle(row(), 0)
    pks = {
        item["pk"]["S"]
        for item in ledger.aws.dynamodb.scan(TableName=ledger.table)["Items"]
        if item["pk"]["S"].startswith(f"DAY#{DAY}#")
    }
    assert len(pks) > 1 and pks <= {f"DAY#{DAY}#{n}" for n in range(4)}
