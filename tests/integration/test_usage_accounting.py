"""Every chat call leaves exactly one usage row, and budgets hold under concurrency: the local API on the SQLite
ledger, and on the DynamoDB ledger with its UsageTable on dynalite, reached through the SDK's environment as on AWS."""

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from airelay.usage.ledger import TOTAL
from tests.support.upstream import FakeUpstream, MalformedChunk, Ok, ResetMidStream, Status

BODY = {"message": "Say hello.", "max_tokens": 100}


def today() -> str:
    return datetime.now(UTC).date().isoformat()


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def api(local_api, upstream, ledger):
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=5,
        STREAM_IDLE_TIMEOUT_S=1,
        **ledger.environment,
    )


def rows_when_settled(ledger, count=1, timeout=10.0):
    """The day's rows once `count` are there (a stream settles just after its last byte), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger.rows(today())
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def totals_when_released(ledger, timeout=10.0):
    """The day's totals once nothing is left on hold, or at the timeout: a settle writes its row and its counters in
    parallel (usage/dynamodb.py), so the row can be read a moment before the hold is released."""
    deadline = time.monotonic() + timeout
    while True:
        totals = ledger.day_totals(today())[TOTAL]
        if totals.committed == totals.spent or time.monotonic() > deadline:
            return totals
        time.sleep(0.05)


def stream(api, body=BODY, stop_after_deltas=None):
    deltas = 0
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=15) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                deltas += 1
                if deltas == stop_after_deltas:
                    break
    return response


def test_buffered_call_row_has_the_providers_usage_and_exact_cost(api, ledger):
    data = httpx.post(f"{api}/api/chat", json=BODY, timeout=10).json()
    [row] = rows_when_settled(ledger.store)
    assert (row.status, row.estimated, row.function, row.model) == ("ok", False, "chat", "openai/gpt-4o-mini")
    assert (row.prompt_tokens, row.completion_tokens) == (data["usage"]["prompt_tokens"], 20)
    expected = (Decimal(row.prompt_tokens) * Decimal("0.15") + 20 * Decimal("0.60")) / 1_000_000
    assert row.cost_usd == expected and Decimal(str(data["cost_usd"])) == expected
    assert row.identity == "ip:127.0.0.1" and row.request_id


@pytest.mark.parametrize(
    "behaviour", [ResetMidStream(after_chunks=6), MalformedChunk(after_chunks=6, then="close")], ids=["cut", "failed"]
)
def test_cut_or_failed_stream_leaves_one_error_row_with_estimated_tokens(api, upstream, ledger, behaviour):
    upstream.script(behaviour)
    stream(api)
    rows = rows_when_settled(ledger.store)
    assert len(rows) == 1
    assert rows[0].status == "error" and rows[0].estimated
    assert rows[0].prompt_tokens > 0 and rows[0].completion_tokens >= 6 and rows[0].cost_usd > 0


def test_cancelled_stream_leaves_one_cancelled_row_and_releases_the_hold(api, upstream, ledger):
    upstream.script(Ok(chunk_delay_s=0.1))
    stream(api, stop_after_deltas=3)
    assert upstream.wait_closed(timeout=10)
    rows = rows_when_settled(ledger.store)
    assert len(rows) == 1
    assert rows[0].status == "cancelled" and rows[0].estimated and rows[0].completion_tokens >= 3
    totals = totals_when_released(ledger.store)
    assert totals.committed == totals.spent == rows[0].cost_usd  # nothing left on hold


@pytest.mark.upstream_failure
def test_failure_before_the_first_token_leaves_one_error_row_and_no_hold(api, upstream, ledger):
    upstream.script(*[Status(500)] * 3)
    assert httpx.post(f"{api}/api/chat/stream", json=BODY, timeout=15).status_code == 502
    [row] = rows_when_settled(ledger.store)
    assert row.status == "error" and row.cost_usd == 0
    assert totals_when_released(ledger.store).committed == 0


def test_concurrent_requests_never_overshoot_the_budget(local_api, ledger):
    # GIVEN a budget that holds about 12 worst cases, and a 0.3 s upstream so 120 requests overlap
    limit = Decimal("0.001")
    with FakeUpstream(delay_s=0.3) as upstream:
        api = local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            DAILY_BUDGET_USD=limit,
            IDENTITY_DAILY_BUDGET_USD=1,
            **ledger.environment,
        )

        async def fire():
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
                body = {"message": "Say hello.", "max_tokens": 1000}
                return await asyncio.gather(
                    *(client.post(f"{api}/api/chat{'/stream' if i % 2 else ''}", json=body) for i in range(120))
                )

        responses = asyncio.run(fire())
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    # THEN some were admitted, every other one was refused with Retry-After, and the spend stayed within the limit
    assert ok and refused and len(ok) + len(refused) == 120
    for response in refused:
        assert int(response.headers["retry-after"]) > 0
        error = response.json()["error"]
        assert error["code"] == "budget_exceeded" and error["budget"] == "global" and "used" not in error
    rows = rows_when_settled(ledger.store, count=len(ok))
    assert len(rows) == len(ok) and all(r.status == "ok" for r in rows)
    totals = totals_when_released(ledger.store)
    assert sum(r.cost_usd for r in rows) == totals.spent <= limit
    assert totals.committed == totals.spent  # every hold settled


def test_usage_api_reports_spend_by_model_and_todays_budget(api, ledger):
    for _ in range(2):
        httpx.post(f"{api}/api/chat", json=BODY, timeout=10)
    report = httpx.get(f"{api}/api/usage", params={"days": 7, "by": "model"}, timeout=10).json()
    [line] = report["rows"]
    assert line["key"] == "openai/gpt-4o-mini" and line["calls"] == 2 and line["cost_usd"] > 0
    assert line["cost_krw"] == pytest.approx(line["cost_usd"] * 1400, abs=0.01)
    assert report["total"]["calls"] == 2
    budget = report["budget"]  # the caller's own: only an operator sees the global one
    assert report["scope"] == "caller" and budget["limit_usd"] == 1
    assert budget["used_usd"] == pytest.approx(line["cost_usd"])
    assert budget["caller"]["identity"] == "ip:127.0.0.1" and budget["resets_in_s"] > 0
    by_day = httpx.get(f"{api}/api/usage", params={"days": 3}, timeout=10).json()
    assert [r["key"] for r in by_day["rows"]][-1] == today() and by_day["rows"][-1]["calls"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"days": 0},
        {"days": 1000},
        {"by": "color"},
        {"days": "x"},
        {"from": "2026-11-20", "to": "2026-11-01"},
        {"from": "yesterday"},
        {"from": "2020-01-01", "to": "2026-01-01"},
    ],
)
def test_usage_api_bad_input_is_a_422(api, params):
    response = httpx.get(f"{api}/api/usage", params=params, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
