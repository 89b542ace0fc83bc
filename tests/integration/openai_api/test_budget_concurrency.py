"""100 parallel calls against a caller's own tiny budget (IDENTITY_DAILY_BUDGET_USD) never overshoot it: /v1/chat/completions
and /v1/responses, buffered and streamed, all at once (test_faults.py holds the day's global budget to the same)."""

import asyncio
import time
from decimal import Decimal

import httpx

from airelay.usage.ledger import TOTAL
from airelay.usage.sqlite import SqliteLedger
from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream import FakeUpstream, Spend

BUDGET = Decimal("0.0001")


def test_a_hundred_parallel_chat_and_responses_calls_never_overshoot_the_callers_budget(local_api, tmp_path):
    with FakeUpstream(delay_s=0.2, behaviour=Spend()) as upstream:
        api = local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            API_KEYS=f"sdk={KEY}",
            DAILY_BUDGET_USD="10",
            IDENTITY_DAILY_BUDGET_USD=str(BUDGET),
            UPSTREAM_TIMEOUT_S=20,
        )

        def request(i: int) -> tuple[str, dict]:
            stream = i % 2 == 1
            if i % 4 < 2:
                return "/v1/chat/completions", {
                    "model": "gpt-4o-mini",
                    "messages": MESSAGES,
                    "max_tokens": 40,
                    "stream": stream,
                }
            return "/v1/responses", {
                "model": "gpt-4o-mini",
                "input": "Say hello.",
                "max_output_tokens": 40,
                "store": False,
                "stream": stream,
            }

        async def all_at_once():
            headers = {"authorization": f"Bearer {KEY}"}
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
                return await asyncio.gather(
                    *(
                        client.post(f"{api}{path}", json=body, headers=headers)
                        for path, body in map(request, range(100))
                    )
                )

        responses = asyncio.run(all_at_once())
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert 0 < len(admitted) < 100
    assert all(r.status_code == 429 and r.json()["error"]["type"] == "insufficient_quota" for r in refused)
    assert len(upstream.requests) == len(admitted)
    deadline = time.monotonic() + 10
    while len(rows(tmp_path, len(admitted))) < len(admitted) and time.monotonic() < deadline:
        time.sleep(0.05)
    found = rows(tmp_path, len(admitted))
    assert len(found) == len(admitted)
    assert len({r.identity for r in found}) == 1  # one caller: its own budget
    spent = sum(r.cost_usd for r in found)
    assert spent <= BUDGET, (spent, BUDGET)
    ledger = SqliteLedger(tmp_path / "usage.sqlite3")
    totals = ledger.day_totals(found[0].day)[TOTAL]
    assert totals.committed == totals.spent == spent
