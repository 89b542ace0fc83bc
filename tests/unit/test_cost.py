"""The cost benchmark's arithmetic on a tiny price table of round numbers (not AWS's prices: those are data)."""

import csv

import pytest

from bench.cost_inputs import RecordingDynamoDB, api_features, item_bytes, template, value_bytes, write_units
from bench.cost_model import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    CallProfile,
    Price,
    airelay_fixed,
    break_even,
    call_cost,
    etag_checks_per_call,
    litellm_monthly,
    read_prices,
    with_overrides,
    xray_share,
)

TINY = {
    "lambda_request": 1.0,  # per 1M
    "lambda_arm_gb_second": 0.001,
    "snapstart_cache_gb_second": 0.0001,
    "snapstart_restore_gb": 0.01,
    "cold_start_share": 0.5,
    "apigw_rest_request": 2.0,  # per 1M
    "dynamodb_write_unit": 3.0,  # per 1M
    "dynamodb_storage_gb_month": 0.5,
    "dynamodb_pitr_gb_month": 0.5,
    "s3_get_request": 4.0,  # per 1000
    "logs_ingest_gb": 1.0,
    "logs_storage_gb_month": 1.0,
    "metrics_custom_month": 0.25,
    "xray_trace_recorded": 5.0,  # per 1M
    "waf_web_acl_month": 10.0,
    "waf_rule_month": 1.0,
    "waf_request": 6.0,  # per 1M
    "fargate_vcpu_hour": 0.1,
    "fargate_gb_hour": 0.01,
    "rds_db_m7g_large_hour": 1.0,
    "rds_db_m7g_xlarge_hour": 2.0,
    "rds_db_m7g_2xlarge_hour": 4.0,
    "rds_gp3_gb_month": 0.01,
    "elasticache_m7g_large_hour": 0.5,
    "elasticache_m7g_xlarge_hour": 1.5,
    "alb_hour": 0.02,
    "alb_lcu_hour": 0.01,
    "alb_new_connections_per_lcu": 25,
    "public_ipv4_hour": 0.005,
    "secrets_manager_secret_month": 0.5,
    "litellm_rps_per_vcpu": 100,
    "litellm_task_vcpu": 1,
    "litellm_task_gib": 4,
    "litellm_cpu_target": 0.5,
    "litellm_jobs_tasks": 1,
    "litellm_min_tasks": 2,
    "litellm_secrets": 3,
    "peak_to_average": 2,
}
PRICES = {key: Price(value, "unit", "test", "2026-12-04", "") for key, value in TINY.items()}

PROFILE = CallProfile(
    capability="chat",
    function="ChatFunction",
    memory_mb=2048,
    billed_ms=1500.2,
    write_units=7,
    stored_bytes=1e9 / 10,
    retention_days=HOURS_PER_MONTH / 24 * 2,  # two months
    log_bytes=1e9 / 1000,
    restore_ms=100,
    first_extra_ms=400,
    etag_check_s=30,
)


def test_one_call_costs_each_line_of_the_bill():
    # GIVEN a 2 GB function billed 1500.2 ms, 7 write units, 0.1 GB kept two months, 1 MB of logs, half its calls cold
    lines = call_cost(PROFILE, PRICES, api_rps=21, rps=10, waf=True)
    # THEN each line is its quantity times its price
    assert lines["lambda_requests"] == pytest.approx(1e-6)
    assert lines["lambda_duration"] == pytest.approx(2 * 1.501 * 0.001)  # rounded up to the millisecond
    assert lines["snapstart_restore"] == pytest.approx(0.5 * (2 * 0.01 + 2 * 0.5 * 0.001))
    assert lines["api_gateway"] == pytest.approx(2e-6)
    assert lines["dynamodb"] == pytest.approx(7 * 3e-6 + 0.1 * 2 * (0.5 + 0.5))
    assert lines["s3"] == pytest.approx((etag_checks_per_call(10, 1.5002, 30) + 0.5) * 4 / 1000)  # + after restores
    assert lines["logs"] == pytest.approx(0.001 * (1 + 1))
    assert lines["xray"] == pytest.approx(2 / 21 * 5e-6)
    assert lines["waf"] == pytest.approx(6e-6)


def test_waf_and_etag_checks_are_not_billed_where_there_are_none():
    plain = CallProfile("sentiment", "SentimentFunction", 1024, 10, 5, 0, 90, 0)
    lines = call_cost(plain, PRICES, api_rps=1, rps=1, tracing=False)
    assert lines["waf"] == 0 and lines["s3"] == 0 and lines["xray"] == 0
    assert lines["dynamodb"] == pytest.approx(15e-6)


def test_xray_records_the_first_request_each_second_and_five_percent_of_the_rest():
    assert xray_share(0.5) == 1.0
    assert xray_share(21) == pytest.approx((1 + 0.05 * 20) / 21)
    assert xray_share(0) == 1.0


def test_each_warm_faq_container_checks_the_index_at_most_every_check_interval():
    # GIVEN 10 calls a second of 0.5 s: 5 containers, each checking once every 30 s
    assert etag_checks_per_call(10, 0.5, 30) == pytest.approx(5 / 30 / 10)
    # WHEN a call comes less than once per interval, each call checks
    assert etag_checks_per_call(0.01, 0.5, 30) == 1.0


def test_airelay_fixed_costs_are_the_cached_snapshots_the_metrics_and_the_waf():
    fixed = airelay_fixed({"A": 1024, "B": 2048}, metric_series=8, prices=PRICES, waf_rules=3)
    assert fixed["snapstart_cache"] == pytest.approx(3 * SECONDS_PER_MONTH * 0.0001)
    assert fixed["custom_metrics"] == pytest.approx(2.0)
    assert fixed["waf"] == pytest.approx(13.0)
    assert "waf" not in airelay_fixed({"A": 1024}, 0, PRICES)


def test_litellm_runs_its_minimum_tasks_plus_the_jobs_worker_until_the_peak_needs_more():
    # GIVEN 100 req/s per vCPU at a 50 % CPU target: 50 req/s per task; the peak is twice the average
    quiet = litellm_monthly(SECONDS_PER_MONTH, PRICES)  # 1 req/s on average
    task_month = (0.1 + 4 * 0.01) * HOURS_PER_MONTH
    assert quiet["gateway_tasks"] == pytest.approx(3 * task_month)  # 2 serving + 1 jobs
    assert quiet["public_ipv4"] == pytest.approx(5 * 0.005 * HOURS_PER_MONTH)  # 3 tasks + the ALB's 2
    assert quiet["postgres"] == pytest.approx(2 * 1.0 * HOURS_PER_MONTH + 2 * 200 * 0.01)  # Multi-AZ: both copies
    assert quiet["redis"] == pytest.approx(2 * 0.5 * HOURS_PER_MONTH)
    assert quiet["load_balancer_lcu"] == pytest.approx(1 / 25 * 0.01 * HOURS_PER_MONTH)
    assert quiet["secrets"] == pytest.approx(1.5)
    # WHEN the average is 100 req/s (peak 200): 4 serving tasks, and still the smallest database
    busy = litellm_monthly(100 * SECONDS_PER_MONTH, PRICES)
    assert busy["gateway_tasks"] == pytest.approx(5 * task_month)
    # WHEN the peak passes 1000 req/s: the next Postgres (500 GB) and Redis sizes
    big = litellm_monthly(600 * SECONDS_PER_MONTH, PRICES)
    assert big["postgres"] == pytest.approx(2 * 2.0 * HOURS_PER_MONTH + 2 * 500 * 0.01)
    assert big["redis"] == pytest.approx(2 * 1.5 * HOURS_PER_MONTH)


def test_break_even_is_where_a_per_call_bill_reaches_a_fixed_one():
    assert break_even(lambda n: 10 + n * 0.001, lambda n: 1010) == pytest.approx(1_000_000, rel=1e-9)
    # a step in the fixed bill moves the crossing past it
    assert break_even(lambda n: n * 0.001, lambda n: 500 if n < 400_000 else 2000) == pytest.approx(2_000_000)
    assert break_even(lambda n: 1.0, lambda n: 2.0) is None
    assert break_even(lambda n: 5.0, lambda n: 1.0) == 1000  # already dearer at the smallest traffic


def test_the_price_table_reads_and_takes_overrides(tmp_path):
    path = tmp_path / "prices.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("key", "value", "unit", "source", "date", "note"))
        writer.writerow(("lambda_request", "0.2", "USD per 1M requests", "https://example.test", "2026-12-04", "n"))
    prices = read_prices(path)
    assert prices["lambda_request"] == Price(0.2, "USD per 1M requests", "https://example.test", "2026-12-04", "n")
    changed = with_overrides(prices, {"lambda_request": 0.4})
    assert changed["lambda_request"].value == 0.4 and changed["lambda_request"].source == "command line"
    with pytest.raises(KeyError, match="lambda_requests"):
        with_overrides(prices, {"lambda_requests": 1})


def test_the_shipped_table_gives_every_line_a_source_and_a_date():
    for key, price in read_prices().items():
        assert price.source and price.date and price.unit, key


def test_dynamodb_item_sizes_and_write_units():
    # names count, strings in UTF-8, numbers one byte per two significant digits plus one
    assert value_bytes({"S": "가나"}) == 6
    assert value_bytes({"N": "123.450"}) == 4  # 12345: 5 digits
    assert value_bytes({"N": "-0.0005"}) == 2
    assert value_bytes({"BOOL": True}) == 1
    assert item_bytes({"pk": {"S": "DAY#1"}, "n": {"N": "10"}}) == 2 + 5 + 1 + 2
    assert (write_units(1), write_units(1024), write_units(1025)) == (1, 1, 2)


def test_the_recorder_bills_an_update_at_the_larger_of_the_item_before_and_after():
    client = RecordingDynamoDB()
    key = {"pk": {"S": "DAY#x"}, "sk": {"S": "total"}}
    client.update_item(
        Key=key, UpdateExpression="ADD a :a, b :b", ExpressionAttributeValues={":a": {"N": "2"}, ":b": {"N": "5"}}
    )
    client.update_item(Key=key, UpdateExpression="ADD a :a", ExpressionAttributeValues={":a": {"N": "-2"}})
    assert client.items[("DAY#x", "total")]["a"] == {"N": "0"}
    first, second = client.writes
    assert first == second == ("UpdateItem", item_bytes(client.items[("DAY#x", "total")]))
    client.writes.clear()
    client.update_item(
        Key=key,
        UpdateExpression="SET #h = :a, e = if_not_exists(e, :b) REMOVE a ADD b :b",
        ExpressionAttributeNames={"#h": "hold:1"},
        ExpressionAttributeValues={":a": {"N": "2"}, ":b": {"N": "5"}},
    )
    assert {k: v["N"] for k, v in client.items[("DAY#x", "total")].items() if "N" in v} == {
        "b": "10",
        "hold:1": "2",
        "e": "5",
    }
    with pytest.raises(NotImplementedError, match="DELETE"):
        client.update_item(Key=key, UpdateExpression="DELETE a :a", ExpressionAttributeValues={})
    with pytest.raises(AttributeError):
        client.transact_write_items(TransactItems=[])


def test_the_web_acl_the_template_makes_only_when_asked_is_not_priced_by_default():
    """WafRateLimitPerAddress is 0 unless an operator sets it: the conditional web ACL is not part of the bill."""
    assert api_features(template()).waf_rules is None
