"""Through the local API: a caller sees their own usage (what the demo dashboard asks for included), an operator key
sees every caller's, and a 429 says which budget ran out without another caller's figures."""

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from airelay.usage.ledger import UsageRow
from airelay.usage.sqlite import SqliteLedger
from tests.support.upstream import FakeUpstream

OPS_KEY = "ops-key-0123456789abcdef"
WEB_KEY = "web-key-0123456789abcdef"
BODY = {"message": "Say hello.", "max_tokens": 100}


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


def paid_model(upstream) -> dict:
    return {"CHAT_MODEL": "openai/gpt-4o-mini", "OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "sk-test"}


def usage(api, key=None, **params) -> dict:
    response = httpx.get(f"{api}/api/usage", params=params, headers={"x-api-key": key} if key else {}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def record_a_call_of_someone_else(tmp_path, identity="ip:198.51.100.7", model="openai/gpt-4o"):
    day = datetime.now(UTC).date().isoformat()
    SqliteLedger(tmp_path / "usage.sqlite3").settle(
        UsageRow(
            call_id="someone-else",
            request_id="r",
            at=f"{day}T00:00:01.000+00:00",
            day=day,
            identity=identity,
            function="chat",
            provider="openai",
            model=model,
            prompt_tokens=1000,
            cached_tokens=0,
            completion_tokens=1000,
            cost_usd=Decimal("0.75"),
            latency_ms=5,
            status="ok",
            estimated=False,
        )
    )


def test_the_dashboards_queries_show_a_caller_only_their_own_usage(local_api, upstream, tmp_path):
    # GIVEN another caller's spend on another model today, and this caller's two chats
    api = local_api(**paid_model(upstream))
    record_a_call_of_someone_else(tmp_path)
    for _ in range(2):
        assert httpx.post(f"{api}/api/chat", json=BODY, timeout=30).status_code == 200
    # WHEN the caller asks what the demo dashboard asks: the last 7 days by day and by model
    by_day, by_model = usage(api, days=7, by="day"), usage(api, days=7, by="model")
    # THEN both hold only the caller's own calls, and the budget shown is the caller's own
    assert [r["key"] for r in by_model["rows"]] == ["openai/gpt-4o-mini"] and by_model["rows"][0]["calls"] == 2
    assert by_day["rows"][-1]["calls"] == 2 and by_day["total"]["calls"] == 2
    assert by_day["total"]["cost_usd"] == by_model["total"]["cost_usd"] < 0.75
    for report in (by_day, by_model):
        assert report["scope"] == "caller" and report["budget"]["caller"]["identity"] == "ip:127.0.0.1"
        assert report["budget"]["limit_usd"] == 1 and report["budget"]["used_usd"] < 0.75


def test_an_operator_key_sees_every_caller_and_other_keys_only_their_own(local_api, upstream, tmp_path):
    # GIVEN two API keys, an operator's and the web app's, and a call of each plus one of a third caller
    api = local_api(API_KEYS=f"ops={OPS_KEY},web={WEB_KEY}", OPERATOR_KEYS="ops", **paid_model(upstream))
    record_a_call_of_someone_else(tmp_path, identity="key:mobile")
    for key in (OPS_KEY, WEB_KEY):
        assert httpx.post(f"{api}/api/chat", json=BODY, headers={"x-api-key": key}, timeout=30).status_code == 200
    # WHEN each asks for usage by caller
    seen_by_web, seen_by_ops = usage(api, WEB_KEY, by="identity"), usage(api, OPS_KEY, by="identity")
    # THEN the visitor behind the web key sees its own row only; the operator every caller's and the global budget
    assert [r["key"] for r in seen_by_web["rows"]] == ["ip:127.0.0.1@web"] and seen_by_web["total"]["calls"] == 1
    assert {r["key"] for r in seen_by_ops["rows"]} == {"key:ops", "ip:127.0.0.1@web", "key:mobile"}
    assert seen_by_ops["scope"] == "all" and seen_by_ops["total"]["calls"] == 3
    assert seen_by_ops["budget"]["limit_usd"] == 10 and seen_by_ops["budget"]["used_usd"] > 0.75
    assert seen_by_web["budget"]["limit_usd"] == 1 and seen_by_web["budget"]["used_usd"] < 0.75


def test_over_the_global_budget_the_429_says_so_without_its_figures(local_api, upstream, tmp_path):
    # GIVEN another caller has used up the global budget
    api = local_api(DAILY_BUDGET_USD="0.75", IDENTITY_DAILY_BUDGET_USD="1", **paid_model(upstream))
    record_a_call_of_someone_else(tmp_path)
    # WHEN this caller asks for a paid call
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=30)
    # THEN it is refused naming the global budget, without how much it is or how much others used
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == {
        "code": "budget_exceeded",
        "message": "This request would exceed today's budget for all callers.",
        "budget": "global",
    }


def test_over_their_own_budget_the_429_gives_the_callers_own_figures(local_api, upstream, tmp_path):
    api = local_api(DAILY_BUDGET_USD="10", IDENTITY_DAILY_BUDGET_USD="0.00001", **paid_model(upstream))
    record_a_call_of_someone_else(tmp_path)
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=30)
    assert response.status_code == 429
    assert response.json()["error"] == {
        "code": "budget_exceeded",
        "message": "This request would exceed your daily budget.",
        "budget": "caller",
        "limit": 0.00001,
        "used": 0.0,
    }
