"""Per-identity limits through the local API, on the SQLite and the DynamoDB (dynalite) ledger: requests and tokens
per minute are held with the budgets before the upstream is called; a refusal is a 429 with Retry-After naming the
limit, and a refused stream never starts."""

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from airelay.conversation import ChatBody, build_request
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL, requests_key, tokens_key
from tests.support.upstream import FakeUpstream, Ok, prompt_bytes

MAX_TOKENS = 32
BODY = {"message": "Say hello.", "max_tokens": MAX_TOKENS}
KEYS = {"alice": "alice-key-0123456789abcdef"}


def worst_tokens() -> int:
    """What one call of BODY holds against tokens per minute: its prompt bound plus max_tokens."""
    return prompt_bytes(build_request(ChatBody.model_validate(BODY), Settings.from_env({}))[1].messages) + MAX_TOKENS


def start_api(local_api, upstream, ledger, **environment) -> str:
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        **environment,
        **ledger.environment,
    )


def same_minute(seconds_needed: float = 12) -> str:
    """This minute, once enough of it is left for the test's calls (waits for the next one otherwise)."""
    while datetime.now(UTC).second > 60 - seconds_needed:
        time.sleep(0.2)
    return datetime.now(UTC).isoformat(timespec="minutes")[:16]


def settled(store, calls: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        day = datetime.now(UTC).date().isoformat()
        total = store.day_totals(day).get(TOTAL)
        if (total and total.calls >= calls and total.committed == total.spent) or time.monotonic() > deadline:
            return total
        time.sleep(0.05)


def post(api: str, i: int, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{api}/api/chat{'/stream' if i % 2 else ''}", json=BODY, headers=headers or {}, timeout=30)


def assert_refused(response: httpx.Response, rate: str, limit: float) -> dict:
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("application/json")  # not an event stream that started
    assert 1 <= int(response.headers["retry-after"]) <= 60
    error = response.json()["error"]
    assert (error["code"], error["rate"], error["limit"]) == ("rate_limit_exceeded", rate, limit)
    return error


def test_a_visitor_over_its_requests_per_minute_is_refused_before_the_upstream(local_api, ledger):
    # GIVEN anonymous visitors (identities by address here) allowed 3 calls a minute
    with FakeUpstream() as upstream:
        api = start_api(local_api, upstream, ledger, VISITOR_REQUESTS_PER_MINUTE=3)
        minute = same_minute()
        # WHEN one visitor sends 5 calls in a minute, buffered and streamed in turn
        responses = [post(api, i) for i in range(5)]
    # THEN 3 are answered, 2 refused for requests per minute, and only 3 reached the upstream
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    for refused in responses[3:]:
        assert assert_refused(refused, "requests_per_minute", 3)["used"] == 3
    assert len(upstream.requests) == 3
    # AND the minute counts the 3 admitted calls, each settled once
    assert ledger.store.committed(minute, requests_key("ip:127.0.0.1")) == 3
    total = settled(ledger.store, 3)
    assert (total.calls, total.committed) == (3, total.spent)


def test_tokens_per_minute_hold_the_worst_case_and_count_what_was_used(local_api, ledger):
    # GIVEN 1.5 worst cases of tokens a minute, and an upstream that answers in far fewer tokens, slowly
    limit = worst_tokens() * 3 // 2
    with FakeUpstream(delay_s=0.5, behaviour=Ok(chunks=2)) as upstream:
        api = start_api(local_api, upstream, ledger, VISITOR_TOKENS_PER_MINUTE=limit)
        minute = same_minute()

        async def two_at_once():
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(f"{api}/api/chat", json=BODY) for _ in range(2)))

        # WHEN two calls arrive together: only one worst case fits
        together = asyncio.run(two_at_once())
        # THEN one is answered and the other refused for tokens per minute
        assert sorted(r.status_code for r in together) == [200, 429]
        assert_refused(next(r for r in together if r.status_code == 429), "tokens_per_minute", limit)
        # AND once it settled to what it used, the next calls fit again, one after the other
        later = [post(api, i) for i in range(2)]
    assert [r.status_code for r in later] == [200, 200]
    assert len(upstream.requests) == 3
    settled(ledger.store, 3)
    used = ledger.store.committed(minute, tokens_key("ip:127.0.0.1"))
    rows = ledger.store.rows(datetime.now(UTC).date().isoformat())
    assert used == sum(r.prompt_tokens - r.cached_tokens + r.completion_tokens for r in rows) < worst_tokens()


def test_visitor_limits_leave_api_keys_to_their_own(local_api, ledger):
    # GIVEN visitors allowed 1 call a minute, and callers by a server's API key 2
    with FakeUpstream() as upstream:
        api = start_api(
            local_api,
            upstream,
            ledger,
            API_KEYS=f"alice={KEYS['alice']}",
            SERVER_KEYS="alice",
            VISITOR_REQUESTS_PER_MINUTE=1,
            REQUESTS_PER_MINUTE=2,
        )
        same_minute()
        # WHEN alice sends 3 calls
        responses = [post(api, i, {"x-api-key": KEYS["alice"]}) for i in range(3)]
    # THEN the key's own limit applies: 2 answered, the third refused
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert_refused(responses[2], "requests_per_minute", 2)


def test_limits_must_not_be_negative():
    with pytest.raises(ValueError, match="REQUESTS_PER_MINUTE"):
        Settings.from_env({"VISITOR_REQUESTS_PER_MINUTE": "-1"})
