"""Fair use under load, on the SQLite ledger and on the DynamoDB ledger (dynalite): 50 visitors behind the app's one
public key, each with its visitor token, and one abusive visitor sending as fast as it can. The abuser is refused
once its own limit is reached, every other visitor keeps getting answers, no limit is ever passed, and the ledger's
totals are the sum of the answers (one row per answered call, none lost). Speed is measured in bench/, not here.

The upstream spends everything a request allows (`Spend`), so each answered call costs exactly its worst case and
the number of calls a limit admits is known in advance (test_budget_promises.py)."""

import asyncio
from collections import Counter, defaultdict
from decimal import Decimal

import httpx

from airelay.usage.ledger import TOTAL, identity_key
from airelay.visitors import mint
from tests.support.upstream import FakeUpstream, Spend

from .test_budget_promises import BODY, MODEL, budget_for, settled, today, worst_case

WEB_KEY = "web-key-0123456789abcdef"
SECRET = "load-test-secret-" + "z" * 47
VISITORS = 50
CALLS_EACH = 2
ABUSER_ALLOWED = 4  # worst cases in a visitor's daily budget
ABUSER_AT_ONCE = 8  # the abuser's requests in flight at any moment
ABUSER_MAX = 400  # the abuser stops here at the latest


def headers(visitor: str) -> dict:
    return {"x-api-key": WEB_KEY, "x-visitor-token": mint(SECRET, visitor, "airelay", ttl_s=600)}


async def ask(client: httpx.AsyncClient, api: str, visitor_headers: dict, streamed: bool) -> tuple[int, dict | str]:
    route = f"{api}/api/chat/stream" if streamed else f"{api}/api/chat"
    response = await client.post(route, json=BODY, headers=visitor_headers)
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.status_code, response.json()
    return response.status_code, response.text


async def crowd_and_abuser(api: str):
    """Every visitor's calls (one after the other per visitor, all visitors at once) while the abuser floods."""
    done = asyncio.Event()
    abuser_answers: list[tuple[int, dict | str]] = []

    async def visitor(client, number: int):
        own = headers(f"visitor-{number}")
        return [await ask(client, api, own, streamed=bool(call % 2)) for call in range(CALLS_EACH)]

    async def abuser(client):
        own = headers("abuser")

        async def one(i: int):
            abuser_answers.append(await ask(client, api, own, streamed=bool(i % 2)))

        sent = 0
        while not done.is_set() and sent < ABUSER_MAX:
            await asyncio.gather(*(one(sent + i) for i in range(ABUSER_AT_ONCE)))
            sent += ABUSER_AT_ONCE

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=VISITORS + 20)) as client:
        flood = asyncio.create_task(abuser(client))
        await asyncio.sleep(0)  # the abuser starts first
        answers = await asyncio.gather(*(visitor(client, n) for n in range(VISITORS)))
        refused_while_visitors_asked = sum(status == 429 for status, _ in abuser_answers)
        done.set()
        await flood
    return answers, abuser_answers, refused_while_visitors_asked


def answered(status: int, body: dict | str) -> bool:
    if isinstance(body, dict):
        return status == 200 and bool(body["response"])
    return status == 200 and '"type":"text-delta"' in body and '"type":"error"' not in body


def test_fifty_visitors_keep_their_answers_while_one_abuser_is_held_to_its_limit(local_api, ledger):
    worst = worst_case()
    visitor_limit = budget_for(ABUSER_ALLOWED)
    # The day's budget fits every visitor's calls, the abuser's allowance and 10 more, far less than the abuser sends:
    # without a limit of its own, the abuser would spend the day's budget and every visitor after it be refused.
    daily_limit = budget_for(VISITORS * CALLS_EACH + ABUSER_ALLOWED + 10)
    with FakeUpstream(behaviour=Spend()) as upstream:
        api = local_api(
            CHAT_MODEL=MODEL,
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            API_KEYS=f"web={WEB_KEY}",
            VISITOR_TOKEN_SECRET=SECRET,
            VISITOR_DAILY_BUDGET_USD=visitor_limit,
            IDENTITY_DAILY_BUDGET_USD=visitor_limit,
            VISITOR_REQUESTS_PER_MINUTE=VISITORS * 10,  # does not bind: the dollars do
            DAILY_BUDGET_USD=daily_limit,
            **ledger.environment,
        )
        # WHEN 50 visitors ask twice each while the abuser sends as fast as it can
        answers, abuser_answers, refused_early = asyncio.run(crowd_and_abuser(api))
    # THEN every visitor got every answer, buffered and streamed
    failed = [(status, body) for calls in answers for status, body in calls if not answered(status, body)]
    assert failed == []
    # AND the abuser got exactly its allowance, and was refused already while the visitors were asking
    statuses = Counter(status for status, _ in abuser_answers)
    assert statuses[200] == ABUSER_ALLOWED and statuses[200] + statuses[429] == len(abuser_answers)
    assert refused_early > 0
    assert {body["error"].get("budget") for status, body in abuser_answers if status == 429} == {"caller"}
    # AND the ledger holds one row per answered call, each its worst case, none lost, none counted twice
    answered_calls = VISITORS * CALLS_EACH + ABUSER_ALLOWED
    rows, totals = settled(ledger.store, answered_calls, timeout=30)
    assert len(rows) == answered_calls == len({row.call_id for row in rows})
    assert all(row.status == "ok" and row.cost_usd == worst for row in rows)
    per_visitor = defaultdict(Decimal)
    for row in rows:
        per_visitor[row.identity] += row.cost_usd
    assert per_visitor.keys() == {f"visitor:visitor-{n}@web" for n in range(VISITORS)} | {"visitor:abuser@web"}
    # AND the totals are the sum of the answers, within every limit, with no hold left over
    assert totals.spent == sum(row.cost_usd for row in rows) == answered_calls * worst <= daily_limit
    assert totals.committed == totals.spent
    day = ledger.store.day_totals(today())
    for identity, spent in per_visitor.items():
        assert day[identity_key(identity)].spent == spent <= visitor_limit
    assert day[identity_key("visitor:abuser@web")].spent == ABUSER_ALLOWED * worst
    # AND every refusal is counted, for the abuser alone
    assert day[identity_key("visitor:abuser@web")].refused == statuses[429]
    assert sum(totals.refused for key, totals in day.items() if key.startswith("id:")) == statuses[429]
    assert len(upstream.requests) == answered_calls
    assert TOTAL in day
