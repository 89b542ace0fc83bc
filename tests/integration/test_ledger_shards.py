"""The ledger contract again with the day spread over several partition keys (USAGE_SHARDS=4), on moto server and
dynalite: the same answers as one partition key."""

import uuid
from datetime import date, timedelta

import pytest

from airelay.usage.dynamodb import DynamoLedger
from tests.integration.test_ledger_contract import (  # noqa: F401  (collected here, with this module's `ledger`)
    dynalite_endpoint,
    moto_endpoint,
    test_a_free_call_holds_nothing_and_is_counted_once,
    test_a_single_request_larger_than_the_limit_is_refused,
    test_concurrent_reserves_never_pass_the_limit,
    test_failed_and_cancelled_calls_are_counted_apart_and_rows_round_trip,
    test_requests_per_minute_count_every_admitted_call_settled_or_not,
    test_reserve_exactly_up_to_the_limit_is_allowed,
    test_reserve_over_a_limit_is_refused_all_or_nothing,
    test_reserve_within_the_limits_holds_the_amount_on_both_counters,
    test_reserving_or_settling_a_call_again_changes_nothing,
    test_settle_releases_the_hold_and_adds_the_real_cost,
    test_tokens_per_minute_hold_the_worst_case_and_settle_to_what_was_used,
)
from tests.integration.test_ledger_contract_totals import (  # noqa: F401  (collected here, with this module's `ledger`)
    test_a_callers_own_totals_are_its_counters_of_each_day_and_no_one_elses,
    test_days_are_separate,
    test_each_caller_keeps_its_own_totals_per_model,
    test_each_model_keeps_its_own_totals,
    test_refusals_are_counted_per_identity_and_apart_from_calls,
)
from tests.support.aws import create_table_from_template, local_clients


@pytest.fixture(params=["moto", "dynalite"])
def ledger(request):
    clients = local_clients(request.getfixturevalue(f"{request.param}_endpoint"))
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return DynamoLedger(table, clients, shards=4)


def test_the_day_is_spread_over_the_shards(ledger):
    from tests.integration.test_ledger_contract import DAY, row

    for n in range(12):
        ledger.settle(row(identity=f"ip:10.0.0.{n}"))
    pks = {item["pk"]["S"] for item in ledger.aws.dynamodb.scan(TableName=ledger.table)["Items"]}
    counters, rows = {pk for pk in pks if pk.startswith("DAY#")}, {pk for pk in pks if pk.startswith("CALLS#")}
    assert len(counters) > 1 and counters <= {f"DAY#{DAY}#{n}" for n in range(4)}
    assert len(rows) > 1 and rows <= {f"CALLS#{DAY}#{n}" for n in range(4)}
    assert ledger.day_totals(DAY)["total"].calls == 12 and len(ledger.rows(DAY)) == 12


def test_a_callers_own_totals_are_read_by_key_without_querying_any_day(ledger):
    from tests.integration.test_ledger_contract import DAY, row

    # GIVEN twelve callers' calls today, spread over the shards
    for n in range(12):
        ledger.settle(row(identity=f"ip:10.0.0.{n}"))
    asked = []
    ledger.aws.dynamodb.meta.events.register(
        "provide-client-params.dynamodb", lambda model, params, **_: asked.append((model.name, params))
    )
    # WHEN one caller's totals of the longest report range (92 days) are read
    days = [(date.fromisoformat(DAY) - timedelta(days=n)).isoformat() for n in reversed(range(92))]
    found = ledger.caller_totals("ip:10.0.0.3", days)
    # THEN each day was one Query of its counter's whole key: no day's partition was read
    assert [(name, params["KeyConditionExpression"]) for name, params in asked] == [
        ("Query", "pk = :pk AND sk = :sk")
    ] * 92
    assert {params["ExpressionAttributeValues"][":sk"]["S"] for _, params in asked} == {"id:ip:10.0.0.3"}
    assert found[-1]["id:ip:10.0.0.3"].calls == 1 and not any(found[:-1])
