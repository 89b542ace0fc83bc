"""UsageFunction's Mangum handler with the events in events/, over a SQLite ledger with known rows."""

import json
import uuid
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
            call_id=uuid.uuid4().hex,  # one call each: the ledger counts a call id once
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
        )
    )


def invoke(container, name, change=None):
    event = load_event(name)
    if change:
        change(event)
    response = container.invoke(event).result(timeout=30)
    return response["statusCode"], json.loads(response["body"])


# the events' caller: a visitor at 203.0.113.10 behind the app's key k3y1d; an operator's key is a server key
VISITOR = "ip:203.0.113.10@k3y1d"
OPERATOR = "key:k3y1d"


def record_three_calls_of_two_callers(caller=VISITOR):
    record(caller, "openai/gpt-4o-mini", "0.25")
    record("ip:198.51.100.7", "openai/gpt-4o", "0.5")
    record(caller, "openai/gpt-4o-mini", "0.25")


OWN_BUDGET = {"identity": VISITOR, "limit_usd": 1.0, "used_usd": 0.5, "remaining_usd": 0.5}


def test_a_caller_sees_their_own_spend_by_model_and_their_own_budget(usage_function):
    # GIVEN calls of the caller (a visitor behind key k3y1d) and of another caller
    record_three_calls_of_two_callers()
    # WHEN the caller asks for spend by model
    status, report = invoke(usage_function, "usage_by_model")
    # THEN only the caller's own calls and budget are in it: no other caller's model, no global figures
    assert status == 200 and report["scope"] == "caller"
    assert {r["key"]: (r["calls"], r["cost_usd"]) for r in report["rows"]} == {"openai/gpt-4o-mini": (2, 0.5)}
    assert report["total"]["cost_usd"] == 0.5 and report["total"]["cost_krw"] == 700.0
    assert report["budget"]["caller"] == OWN_BUDGET
    assert (report["budget"]["limit_usd"], report["budget"]["used_usd"], report["budget"]["remaining_usd"]) == (
        1.0,
        0.5,
        0.5,
    )


def test_a_caller_by_identity_sees_only_their_own_row(usage_function):
    record_three_calls_of_two_callers()
    status, report = invoke(usage_function, "usage_by_identity")
    assert status == 200
    assert [(r["key"], r["calls"], r["cost_usd"]) for r in report["rows"]] == [(VISITOR, 2, 0.5)]
    assert report["total"]["calls"] == 2


def test_an_operator_key_sees_every_caller_and_the_global_budget(usage_function, monkeypatch):
    # GIVEN the caller's key id is an operator's
    monkeypatch.setenv("OPERATOR_KEYS", "another-id, k3y1d")
    get_settings.cache_clear()
    record_three_calls_of_two_callers(OPERATOR)
    # WHEN it asks for spend by caller and by model
    status, by_identity = invoke(usage_function, "usage_by_identity")
    _, by_model = invoke(usage_function, "usage_by_model")
    # THEN it sees every caller, every model, the global totals and budget, and its own budget beside them
    assert status == 200 and by_identity["scope"] == "all"
    assert {r["key"]: r["cost_usd"] for r in by_identity["rows"]} == {OPERATOR: 0.5, "ip:198.51.100.7": 0.5}
    assert {r["key"]: r["calls"] for r in by_model["rows"]} == {"openai/gpt-4o-mini": 2, "openai/gpt-4o": 1}
    assert by_model["total"]["cost_usd"] == 1.0
    assert (by_model["budget"]["limit_usd"], by_model["budget"]["used_usd"]) == (10.0, 1.0)
    assert by_model["budget"]["caller"] == {**OWN_BUDGET, "identity": OPERATOR}


def test_an_authorizer_in_the_event_is_ignored_without_sign_in(usage_function):
    # GIVEN sign-in is off (there is no authorizer on AWS then) and an event that carries one anyway
    record_three_calls_of_two_callers()

    def with_authorizer(event):
        event["requestContext"]["authorizer"] = {"principalId": "ip:198.51.100.7", "claims": {"sub": "someone"}}

    # WHEN the caller asks for usage THEN it is still known by its address behind the API key id
    status, report = invoke(usage_function, "usage_by_identity", with_authorizer)
    assert status == 200 and report["budget"]["caller"]["identity"] == VISITOR
    assert [r["key"] for r in report["rows"]] == [VISITOR]


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
    assert responses[0]["statusCode"] in (200, 204) and responses[1]["statusCode"] == 200
    assert [r["headers"]["access-control-allow-origin"] for r in responses] == [origin, origin]


def record_callers_of_every_kind():
    record("user:u-1", "openai/gpt-4o-mini", "0.25")
    record("visitor:v-1@k3y1d", "openai/gpt-4o-mini", "0.125")
    record("visitor:v-2@k3y1d", "openai/gpt-4o-mini", "0.5")
    record(VISITOR, "openai/gpt-4o-mini", "0.0625")
    record("key:srv", "openai/gpt-4o", "1")
    ledger = SqliteLedger(get_settings().usage_db_path)
    today = datetime.now(UTC).date().isoformat()
    for identity, refusals in (("visitor:v-2@k3y1d", 3), (VISITOR, 1), ("ip:198.51.100.9@k3y1d", 5)):
        for _ in range(refusals):
            ledger.count_refusal(today, identity)


def by_kind_query(event):
    event["queryStringParameters"] = {"by": "kind", "days": "1"}
    event["multiValueQueryStringParameters"] = {"by": ["kind"], "days": ["1"]}


def test_an_operator_sees_spend_and_refusals_per_kind_of_caller_and_the_top_callers_of_the_day(
    usage_function, monkeypatch
):
    # GIVEN today's calls and refusals of a user, visitors with tokens, visitors by address and a server's key
    monkeypatch.setenv("OPERATOR_KEYS", "k3y1d")
    get_settings.cache_clear()
    record_callers_of_every_kind()
    # WHEN an operator asks by kind
    status, report = invoke(usage_function, "usage_by_identity", by_kind_query)
    # THEN each kind's spend, calls and refusals, the most spent first
    assert status == 200 and report["by"] == "kind" and report["scope"] == "all"
    assert [(r["key"], r["calls"], r["refused"], r["cost_usd"]) for r in report["rows"]] == [
        ("key", 1, 0, 1.0),
        ("visitor", 2, 3, 0.625),
        ("user", 1, 0, 0.25),
        ("ip", 1, 6, 0.0625),
    ]
    # AND today's top callers by spend, then refusals
    assert [(r["key"], r["refused"]) for r in report["top"]] == [
        ("key:srv", 0),
        ("visitor:v-2@k3y1d", 3),
        ("user:u-1", 0),
        ("visitor:v-1@k3y1d", 0),
        (VISITOR, 1),
        ("ip:198.51.100.9@k3y1d", 5),
    ]


def test_a_visitor_sees_only_their_own_kind_row_and_no_top_callers(usage_function):
    record_callers_of_every_kind()
    status, report = invoke(usage_function, "usage_by_identity", by_kind_query)
    assert status == 200 and report["scope"] == "caller" and "top" not in report
    assert [(r["key"], r["calls"], r["refused"], r["cost_usd"]) for r in report["rows"]] == [("ip", 1, 1, 0.0625)]
    assert report["total"]["refused"] == 1


def test_on_aws_a_spoofed_forwarded_for_does_not_change_the_visitors_address(usage_function):
    # GIVEN API Gateway's event: its context names the source address; the client wrote X-Forwarded-For itself
    record_three_calls_of_two_callers()

    def spoofed(event):
        for name in ("X-Forwarded-For", "x-real-ip", "Forwarded"):
            event["headers"][name] = "198.51.100.7" if name != "Forwarded" else "for=198.51.100.7"
            event["multiValueHeaders"][name] = [event["headers"][name]]

    # WHEN the caller asks for its usage THEN it is the visitor at the context's address, not the one it claimed
    status, report = invoke(usage_function, "usage_by_identity", spoofed)
    assert status == 200 and report["budget"]["caller"]["identity"] == VISITOR
    assert [r["key"] for r in report["rows"]] == [VISITOR]


@pytest.mark.upstream_failure  # the store fails on purpose
def test_a_ledger_that_cannot_be_read_is_a_503_not_a_500(usage_function, monkeypatch):
    # GIVEN a ledger whose reads fail (the table throttled, the file locked)
    def fails(*_):
        raise RuntimeError("ProvisionedThroughputExceededException: secret table name")

    monkeypatch.setattr(SqliteLedger, "caller_totals", fails)
    # WHEN a caller asks for its usage THEN it is told to try again, with nothing of the failure
    status, body = invoke(usage_function, "usage_by_model")
    assert status == 503 and body["error"]["code"] == "provider_unavailable", body
    assert "secret" not in json.dumps(body)
