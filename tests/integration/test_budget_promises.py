""" "Never over budget", held against an upstream that spends everything a request allows (and more): concurrent
chat calls through the local API, buffered and streamed, on the SQLite ledger and on the DynamoDB ledger (dynalite).

Each call reserves its worst case: the prompt's byte count (no byte-level tokenizer counts more) at the input price
plus max_tokens at the output price. The upstream here reports exactly that (`Spend`), so the number of calls a
budget admits is known in advance: floor(limit / worst case), every one of them spending its whole reservation.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import httpx
import pytest

from airelay.conversation import ChatBody, build_request
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, identity_key
from tests.support.upstream import FakeUpstream, Spend, prompt_bytes

MODEL = "openai/gpt-4o-mini"
INPUT_PRICE, OUTPUT_PRICE = Decimal("0.15"), Decimal("0.60")  # USD per 1M tokens, data/prices.json
MAX_TOKENS = 40
# A long question, so the prompt is most of the reservation: a budget that under-reserves the prompt admits more.
QUESTION = "배송비와 반품 규정을 자세히 알려 주세요. " * 12 + "Please also explain the exchange policy in detail. " * 6
BODY = {"message": QUESTION, "max_tokens": MAX_TOKENS}
CALLS = 24
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def sent_messages() -> list[dict]:
    """What the chat function sends upstream for BODY: the persona's system prompt and the question."""
    return build_request(ChatBody.model_validate(BODY), Settings.from_env({}))[1].messages


def worst_case() -> Decimal:
    return (prompt_bytes(sent_messages()) * INPUT_PRICE + MAX_TOKENS * OUTPUT_PRICE) / 1_000_000


def budget_for(calls: int) -> Decimal:
    """A limit that fits `calls` worst cases and half of one more, in the ledgers' nano-dollar resolution."""
    return (worst_case() * (2 * calls + 1) / 2).quantize(Decimal("1e-9"), rounding=ROUND_DOWN)


def fire(api: str, headers: list[dict]) -> list[httpx.Response]:
    """One call per entry of `headers`, all at once, alternating the buffered and the streamed route."""

    async def all_at_once():
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as client:
            return await asyncio.gather(
                *(
                    client.post(f"{api}/api/chat{'/stream' if i % 2 else ''}", json=BODY, headers=h)
                    for i, h in enumerate(headers)
                )
            )

    return asyncio.run(all_at_once())


def settled(store, calls: int, timeout: float = 10.0):
    """The day's rows and TOTAL counter once `calls` rows are in and no hold is outstanding (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        rows, totals = store.rows(today()), store.day_totals(today()).get(TOTAL)
        done = len(rows) >= calls and totals is not None and totals.committed == totals.spent
        if done or time.monotonic() > deadline:
            return rows, totals
        time.sleep(0.05)


def assert_refused_for_budget(responses):
    for response in responses:
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert response.json()["error"]["code"] == "budget_exceeded"


def start_api(local_api, upstream, ledger, **environment) -> str:
    return local_api(
        CHAT_MODEL=MODEL,
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=20,
        **environment,
        **ledger.environment,
    )


def test_calls_spending_their_whole_allowance_never_pass_the_daily_budget(local_api, ledger):
    # GIVEN a daily budget of 3.5 worst cases, a per-caller budget that does not bind, and an upstream that spends
    # all it is allowed, slowly enough that every call is in flight at once
    limit, worst = budget_for(3), worst_case()
    with FakeUpstream(delay_s=0.3, behaviour=Spend()) as upstream:
        api = start_api(local_api, upstream, ledger, DAILY_BUDGET_USD=limit, IDENTITY_DAILY_BUDGET_USD=1)
        # WHEN 24 calls arrive together
        responses = fire(api, [{}] * CALLS)
    admitted = [r for r in responses if r.status_code == 200]
    # THEN exactly 3 are admitted and served, and every other one is refused with 429 before reaching the upstream
    assert len(admitted) == 3 == limit // worst
    assert_refused_for_budget([r for r in responses if r.status_code != 200])
    assert len(upstream.requests) == 3
    assert all(r["messages"] == sent_messages() and r["max_tokens"] == MAX_TOKENS for r in upstream.requests)
    # AND each admitted call is billed exactly what the upstream reported, its whole reservation
    rows, totals = settled(ledger.store, 3)
    assert [(r.status, r.estimated) for r in rows] == [("ok", False)] * 3
    assert {(r.prompt_tokens, r.completion_tokens) for r in rows} == {(prompt_bytes(sent_messages()), MAX_TOKENS)}
    assert all(r.cost_usd == worst for r in rows)
    # AND the day's spend is those three calls, within the limit, with no hold left over
    assert totals.spent == 3 * worst <= limit
    assert totals.committed == totals.spent


def test_each_caller_stays_within_their_own_budget(local_api, ledger):
    # GIVEN two servers' API keys: alice with her own budget (IDENTITY_BUDGETS) of 2.5 worst cases, bob with the default
    # per-caller budget of 4.5, a daily budget that does not bind, and an upstream that spends all it is allowed
    alice_limit, bob_limit, worst = budget_for(2), budget_for(4), worst_case()
    with FakeUpstream(delay_s=0.3, behaviour=Spend()) as upstream:
        api = start_api(
            local_api,
            upstream,
            ledger,
            API_KEYS=",".join(f"{name}={key}" for name, key in KEYS.items()),
            SERVER_KEYS="alice,bob",  # held by servers: each key is one caller
            IDENTITY_BUDGETS=f"key:alice={alice_limit}",
            IDENTITY_DAILY_BUDGET_USD=bob_limit,
            DAILY_BUDGET_USD=1,
        )
        # WHEN each of them sends 12 calls, all at once
        callers = ["alice", "bob"] * (CALLS // 2)
        responses = fire(api, [{"x-api-key": KEYS[name]} for name in callers])
    by_caller = {name: [r for c, r in zip(callers, responses) if c == name] for name in KEYS}
    # THEN alice gets 2 calls and bob 4; the rest are refused with 429
    assert [r.status_code for r in by_caller["alice"]].count(200) == 2 == alice_limit // worst
    assert [r.status_code for r in by_caller["bob"]].count(200) == 4 == bob_limit // worst
    assert_refused_for_budget([r for r in responses if r.status_code != 200])
    assert len(upstream.requests) == 6
    # AND each caller's spend is their admitted calls' full cost, within their own limit
    rows, totals = settled(ledger.store, 6)
    assert sorted(r.identity for r in rows) == ["key:alice"] * 2 + ["key:bob"] * 4
    day = ledger.store.day_totals(today())
    assert day[identity_key("key:alice")].spent == 2 * worst <= alice_limit
    assert day[identity_key("key:bob")].spent == 4 * worst <= bob_limit
    assert totals.spent == 6 * worst and totals.committed == totals.spent


def test_an_upstream_spending_more_than_allowed_is_billed_no_more_than_reserved(local_api, ledger):
    # GIVEN an upstream that ignores max_tokens (15 completion tokens more) and over-counts the prompt (by 500),
    # and a daily budget of 3.5 worst cases
    limit, worst = budget_for(3), worst_case()
    with FakeUpstream(delay_s=0.3, behaviour=Spend(extra_completion=15, extra_prompt=500)) as upstream:
        api = start_api(local_api, upstream, ledger, DAILY_BUDGET_USD=limit, IDENTITY_DAILY_BUDGET_USD=1)
        # WHEN 24 calls arrive together
        responses = fire(api, [{}] * CALLS)
    admitted = [r for r in responses if r.status_code == 200]
    # THEN 3 are admitted, and each is billed at most its reservation: the spend stays within the limit
    assert len(admitted) == 3
    assert_refused_for_budget([r for r in responses if r.status_code != 200])
    rows, totals = settled(ledger.store, 3)
    assert len(rows) == 3 and all(r.status == "ok" and r.estimated for r in rows)
    assert all(r.prompt_tokens <= prompt_bytes(sent_messages()) and r.completion_tokens <= MAX_TOKENS for r in rows)
    assert all(0 < r.cost_usd <= worst for r in rows)
    assert totals.spent <= limit and totals.committed == totals.spent


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_a_buffered_answer_over_its_allowance_is_billed_at_the_reservation(local_api, ledger):
    # GIVEN an upstream that reports 15 completion tokens past max_tokens and a prompt 500 tokens over its bytes
    with FakeUpstream(behaviour=Spend(extra_completion=15, extra_prompt=500)) as upstream:
        api = start_api(local_api, upstream, ledger)
        # WHEN a client asks for a buffered answer
        answer = httpx.post(f"{api}/api/chat", json=BODY, timeout=30).json()
    # THEN the call is billed the reservation's bounds, marked estimated, and the client is told so
    bounds = {"prompt_tokens": prompt_bytes(sent_messages()), "completion_tokens": MAX_TOKENS}
    assert {k: answer["usage"][k] for k in bounds} == bounds and answer["usage"]["estimated"] is True
    assert Decimal(str(answer["cost_usd"])) == worst_case()
    [row], totals = settled(ledger.store, 1)
    assert (row.prompt_tokens, row.completion_tokens, row.estimated) == (*bounds.values(), True)
    assert row.cost_usd == totals.spent == worst_case()


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_a_stream_running_past_max_tokens_is_cut_off_at_max_tokens(local_api, ledger):
    # GIVEN an upstream that streams 30 chunks past max_tokens, one chunk every 20 ms
    with FakeUpstream(behaviour=Spend(extra_completion=30, chunk_delay_s=0.02)) as upstream:
        api = start_api(local_api, upstream, ledger)
        # WHEN a client streams an answer
        with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=30) as response:
            lines = list(response.iter_lines())
        # THEN the server stops reading at max_tokens and closes the upstream's stream
        assert upstream.wait_closed(timeout=5)
    parts = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: {")]
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == FakeUpstream.reply_text(MAX_TOKENS)
    assert [p["finishReason"] for p in parts if p["type"] == "finish"] == ["length"]
    # AND the call is billed no more than it reserved
    [row], _ = settled(ledger.store, 1)
    assert row.status == "ok" and row.completion_tokens <= MAX_TOKENS and row.cost_usd <= worst_case()
