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


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:8000", "http://localhost:8000", "http://localhost:3000", "http://localhost:5173"]
)
def test_every_default_origin_may_call_the_api(usage_function, origin):
    # GIVEN no ALLOWED_ORIGINS setting WHEN a page on one of the local dev servers asks, preflight first
    preflight = load_event("usage_by_model") | {"httpMethod": "OPTIONS", "body": None}
    answer = load_event("usage_by_model")
    for event in (preflight, answer):
        event["headers"] = {**event["headers"], "origin": origin, "access-control-request-method": "GET"}
        event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    responses = [usage_function.invoke(event).result(timeout=30) for event in (preflight, answer)]
    # THEN both the preflight and the answer allow that origin
    assert [r["statusCode"] for r in responses] == [204, 200]
    assert [r["headers"]["access-control-allow-origin"] for r in responses] == [origin, origin]
