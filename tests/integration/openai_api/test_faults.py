"""Faults through /v1, seen by the openai SDK: a 429 storm, 5xx, a stall, a reset and a malformed chunk in the middle
of a tool-call stream each end in an error the SDK raises (never a clean stop), and leave exactly one usage row."""

import asyncio
import json
import time
from decimal import Decimal

import httpx
import openai
import pytest

from airelay.usage.ledger import TOTAL
from airelay.usage.sqlite import SqliteLedger
from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream import FakeUpstream, MalformedChunk, ResetMidStream, SlowFirstByte, Spend, Status
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


def test_a_429_storm_is_a_rate_limit_error_with_retry_after_and_one_row(client, upstream, tmp_path):
    upstream.script(*[Status(429, retry_after=2)] * 5)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert limited.value.response.headers["retry-after"] == "2"
    [row] = rows(tmp_path)
    assert row.status == "error" and row.cost_usd == 0


@pytest.mark.upstream_failure
@pytest.mark.parametrize("status,error", [(500, openai.InternalServerError), (503, openai.InternalServerError)])
def test_a_5xx_is_a_safe_server_error_and_one_row(client, upstream, tmp_path, status, error):
    upstream.script(Status(status))
    with pytest.raises(error) as failed:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert upstream.SECRET_MARKER not in str(failed.value.body)
    assert [r.status for r in rows(tmp_path)] == ["error"]


def broken_tool_call(fault: str, after_s: float = 0.0) -> Deltas:
    """A tool call whose arguments stop half way: the fault comes after its first fragments."""
    deltas = tool_call_deltas(("call_1", "lookup", '{"query": "refund policy for orders"}'), pieces=6)[:3]
    return Deltas(deltas, finish="tool_calls", after_s=after_s, fault=fault)


broken_tool_calls = pytest.mark.parametrize(  # the faults a tool call's stream is tested with, here and on Responses
    "fault",
    [broken_tool_call("stall", after_s=5), broken_tool_call("reset"), broken_tool_call("malformed")],
    ids=["stall", "reset", "malformed"],
)


@broken_tool_calls
def test_a_fault_in_the_middle_of_a_tool_call_stream_is_raised_never_a_clean_stop(client, upstream, tmp_path, fault):
    # GIVEN a tool call's stream that breaks off after its first fragments
    upstream.script(fault)
    chunks = []
    # WHEN the SDK reads it
    with pytest.raises(openai.APIError) as broken:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True):
            chunks.append(chunk)
    # THEN the fragments arrived, then the SDK raised the stream's error event; no chunk said the answer finished
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert broken.value.code in ("provider_failed", "provider_timeout")
    assert all(c.choices[0].finish_reason is None for c in chunks if c.choices)
    # AND exactly one usage row, an error, counts what was generated
    [row] = rows(tmp_path)
    assert row.status == "error" and row.completion_tokens > 0


def test_a_malformed_chunk_after_tool_call_fragments_is_an_error(client, upstream, tmp_path):
    # GIVEN tool-call fragments, then the next request's stream has a malformed chunk: scripted as two answers
    deltas = tool_call_deltas(("call_1", "lookup", '{"query": "refund"}'), pieces=4)
    upstream.script(Deltas(deltas, finish="tool_calls"))
    done = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True))
    assert done[-1].choices[0].finish_reason == "tool_calls"
    upstream.script(MalformedChunk(after_chunks=2, then="continue"))
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True))
    assert sorted(r.status for r in rows(tmp_path, 2)) == ["error", "ok"]


def test_a_responses_stream_cut_midway_raises_in_the_sdk(client, upstream, tmp_path):
    upstream.script(ResetMidStream(after_chunks=3))
    with pytest.raises(openai.APIError):
        list(client.responses.create(model="gpt-4o-mini", input="Hi", stream=True))
    assert [r.status for r in rows(tmp_path)] == ["error"]


def spending_api(local_api, upstream, daily: str, per_caller: str) -> str:
    """The local API over `upstream` with these daily budgets (USD) for everyone and for each caller."""
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        API_KEYS=f"sdk={KEY}",
        DAILY_BUDGET_USD=daily,
        IDENTITY_DAILY_BUDGET_USD=per_caller,
        UPSTREAM_TIMEOUT_S=20,
    )


async def posted_at_once(api: str, calls: list[tuple[str, dict]]) -> list[httpx.Response]:
    """Each (path, body) posted with the SDK key, all at once."""
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=len(calls))) as client:
        return await asyncio.gather(*(client.post(f"{api}{path}", json=body, headers=headers) for path, body in calls))


def test_a_hundred_parallel_calls_never_overshoot_a_tiny_budget(local_api, tmp_path):
    # GIVEN an upstream that spends all a call allows, and a daily budget of a few calls' worth
    with FakeUpstream(delay_s=0.2, behaviour=Spend()) as upstream:
        api = spending_api(local_api, upstream, daily="0.0001", per_caller="1")
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 40}
        # WHEN 100 calls, buffered and streamed, arrive together
        calls = [("/v1/chat/completions", {**body, "stream": i % 2 == 1}) for i in range(100)]
        responses = asyncio.run(posted_at_once(api, calls))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    # THEN some are served, the rest refused in OpenAI's shape, and the day's spend stays within the budget
    assert 0 < len(admitted) < 100
    assert all(r.status_code == 429 and r.json()["error"]["type"] == "insufficient_quota" for r in refused)
    assert len(upstream.requests) == len(admitted)
    ledger = SqliteLedger(tmp_path / "usage.sqlite3")
    deadline = time.monotonic() + 10
    while len(rows(tmp_path, len(admitted))) < len(admitted) and time.monotonic() < deadline:
        time.sleep(0.05)
    day = rows(tmp_path)[0].day
    totals = ledger.day_totals(day)[TOTAL]
    assert totals.spent <= Decimal("0.0001") and totals.committed == totals.spent
    assert sum(r.cost_usd for r in rows(tmp_path, len(admitted))) == totals.spent
    assert all(
        json.loads(r.text) if not r.headers["content-type"].startswith("text/event-stream") else True for r in admitted
    )


@pytest.mark.upstream_failure
def test_a_buffered_call_cut_by_the_deadline_bills_its_prompt(client, upstream, tmp_path):
    # GIVEN an upstream slower than the server's deadline (UPSTREAM_TIMEOUT_S is 3 s in these fixtures)
    upstream.script(SlowFirstByte(seconds=5))
    # WHEN a buffered call is cut by it
    with pytest.raises(openai.APIStatusError) as cut:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=200)
    # THEN it is a 504, and its row counts the prompt the provider received (and may bill), estimated
    assert cut.value.status_code == 504
    [row] = rows(tmp_path)
    assert (row.status, row.prompt_tokens > 0, row.completion_tokens, row.estimated) == ("error", True, 0, True)


@pytest.mark.upstream_failure
def test_a_stream_cut_by_the_deadline_before_its_first_token_bills_its_prompt(client, upstream, tmp_path):
    # GIVEN an upstream whose first byte comes after the server's deadline (UPSTREAM_TIMEOUT_S is 3 s here)
    upstream.script(SlowFirstByte(seconds=5))
    # WHEN a stream is asked for
    with pytest.raises(openai.APIStatusError) as cut:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=200, stream=True)
    # THEN it is a 504 before any event, and its row counts the prompt the provider received, estimated
    assert cut.value.status_code == 504
    [row] = rows(tmp_path)
    assert (row.status, row.prompt_tokens > 0, row.completion_tokens, row.estimated) == ("error", True, 0, True)
