"""100 parallel calls against a caller's own tiny budget (IDENTITY_DAILY_BUDGET_USD) never overshoot it: /v1/chat/completions
and /v1/responses, buffered and streamed, all at once (test_faults.py holds the day's global budget to the same)."""

import asyncio
import time
from decimal import Decimal

from airelay.usage.ledger import TOTAL
from airelay.usage.sqlite import SqliteLedger
from tests.integration.openai_api.conftest import MESSAGES, rows
from tests.integration.openai_api.test_faults import posted_at_once, spending_api
from tests.support.upstream import FakeUpstream, Spend

BUDGET = Decimal("0.0001")


def test_a_hundred_parallel_chat_and_responses_calls_never_overshoot_the_callers_budget(local_api, tmp_path):
    with FakeUpstream(delay_s=0.2, behaviour=Spend()) as upstream:
        api = spending_api(local_api, upstream, daily="10", per_caller=str(BUDGET))

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

        responses = asyncio.run(posted_at_once(api, [request(i) for i in range(100)]))
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
