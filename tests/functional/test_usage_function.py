"""UsageFunction's Mangum handler with the events in events/, over a SQLite ledger with known rows."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay.settings import get_settings
from airelay.usage.ledger import UsageRow
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container

from .conftest import load_event


@pytest.fixture(scope="module")
def usage_function():
    return Container(find_function("UsageFunction"))


def record(identity, model, cost):
    day = datetime.now(UTC).date().isoformat()
    SqliteLedger(get_settings().usage_db_path).settle(
        UsageRow(
            call_id=f"{identity}-{model}-{cost}",
            request_id="r",
            at=f"{day}T01:00:00.000+00:00",
            day=day,
            identity=identity,
            function="chat",
            provider="openai",
            model=model,
            prompt_tokens=100,
            cached_tokens=0,
            completion_tokens=50,
            cost_usd=Decimal(cost),
            latency_ms=5,
            status="ok",
            estimated=False,
        ),
        Decimal(0),
    )


def invoke(container, name):
    response = container.invoke(load_event(name)).result(timeout=30)
    return response["statusCode"], json.loads(response["body"])


def test_usage_by_model_with_the_callers_own_budget(usage_function):
    record("key:k3y1d", "openai/gpt-4o-mini", "0.25")
    record("ip:198.51.100.7", "openai/gpt-4o", "0.5")
    record("key:k3y1d", "openai/gpt-4o-mini", "0.25")
    status, report = invoke(usage_function, "usage_by_model")
    assert status == 200
    assert {r["key"]: (r["calls"], r["cost_usd"]) for r in report["rows"]} == {
        "openai/gpt-4o-mini": (2, 0.5),
        "openai/gpt-4o": (1, 0.5),
    }
    assert report["total"]["cost_usd"] == 1.0 and report["total"]["cost_krw"] == 1400.0
    assert report["budget"]["used_usd"] == 1.0 and report["budget"]["remaining_usd"] == 9.0
    assert report["budget"]["caller"] == {
        "identity": "key:k3y1d",
        "limit_usd": 1.0,
        "used_usd": 0.5,
        "remaining_usd": 0.5,
    }


def test_bad_range_is_a_422(usage_function):
    status, body = invoke(usage_function, "usage_bad_days")
    assert status == 422 and body["error"]["code"] == "invalid_input" and "days" in body["error"]["message"]


def invoke_with_query(container, query: dict[str, str]):
    event = load_event("usage_by_model")
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    response = container.invoke(event).result(timeout=30)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    "query",
    [
        {"to": "0001-01-01", "days": "2"},
        {"to": "0001-01-01", "days": "400"},
        {"from": "0001-01-01"},
        {"from": "9999-12-31", "to": "0001-01-01"},
        {"from": "9999-12-31"},
        {"from": "0000-01-01"},
        {"to": "10000-01-01"},
        {"to": "2026-02-30"},
        {"days": "-1"},
        {"days": "1e3"},
    ],
)
def test_dates_off_either_end_of_the_calendar_are_a_422(usage_function, query):
    # GIVEN a range that would start before year 1, run backwards, or name no real day
    # WHEN the report is asked for
    status, body = invoke_with_query(usage_function, query)
    # THEN it is a 422 that says what is wrong, never a 500
    assert status == 422, body
    assert body["error"]["code"] == "invalid_input" and len(body["error"]["message"]) < 200


@pytest.mark.parametrize(
    "query,first,last",
    [
        ({"to": "0001-01-01", "days": "1", "by": "day"}, "0001-01-01", "0001-01-01"),
        ({"to": "9999-12-31", "days": "7", "by": "day"}, "9999-12-25", "9999-12-31"),
        ({"from": "9999-12-31", "to": "9999-12-31", "by": "day"}, "9999-12-31", "9999-12-31"),
    ],
)
def test_the_first_and_last_days_of_the_calendar_are_empty_ranges(usage_function, query, first, last):
    status, report = invoke_with_query(usage_function, query)
    assert status == 200, report
    assert (report["from"], report["to"]) == (first, last)
    assert report["rows"][0]["key"] == first and report["rows"][-1]["key"] == last
    assert report["total"]["calls"] == 0
