"""usage.metered, the block every AI call but chat runs in (embeddings, classifiers), against a real SQLite ledger:
it holds the worst case before the call, and settles exactly once: what the provider reported, the tokens an error
carries, or nothing, releasing the hold in every case."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from airelay import usage
from airelay.errors import BudgetExceeded, InvalidInput
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL
from tests.support import state

PAID = "openai/text-embedding-3-small"
CALLER = usage.Caller("req-1", "ip:1", "faq")


@pytest.fixture
def meter(tmp_path):
    state.forget_meter()
    settings = Settings(
        usage_db_path=str(tmp_path / "usage.sqlite3"),
        daily_budget_usd=Decimal("1"),
        model_prices='{"hf/some/classifier": {"input": "1", "output": "1"}}',
    )
    yield usage.get_meter(settings)
    state.forget_meter()


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def refused() -> InvalidInput:
    return InvalidInput("refused after reading", usage=Usage(prompt_tokens=7))


def run(meter, block, model=PAID, **bounds):
    async def call():
        async with usage.metered(CALLER, model, **bounds) as reading:
            await block(reading)

    asyncio.run(call())
    return meter.ledger.rows(today())


def test_the_providers_usage_is_settled_and_the_hold_released(meter):
    async def block(reading):
        assert meter.ledger.day_totals(today())[TOTAL].committed > 0  # held during the call
        reading.usage = Usage(prompt_tokens=40)

    (row,) = run(meter, block, prompt_tokens=100)
    assert (row.status, row.prompt_tokens, row.function, row.identity) == ("ok", 40, "faq", "ip:1")
    assert meter.ledger.day_totals(today())[TOTAL].committed == row.cost_usd > 0


def test_a_provider_reporting_more_than_the_call_held_is_billed_what_it_held(meter):
    # GIVEN a call opened for at most 100 prompt and 10 completion tokens
    async def block(reading):
        # WHEN the provider reports ten million prompt tokens and 50 completion tokens
        reading.usage = Usage(prompt_tokens=10_000_000, completion_tokens=50)

    (row,) = run(meter, block, prompt_tokens=100, max_tokens=10)
    # THEN it is billed the counts it held, marked estimated, and the budget counts no more than was held
    assert (row.prompt_tokens, row.completion_tokens, row.estimated) == (100, 10, True)
    assert row.cost_usd == meter.prices.price(PAID).worst_case(100, 10)
    assert meter.ledger.day_totals(today())[TOTAL].committed == row.cost_usd


def test_an_error_carrying_tokens_is_settled_with_them(meter):
    async def block(reading):
        raise refused()

    with pytest.raises(InvalidInput):
        run(meter, block, prompt_tokens=100)
    (row,) = meter.ledger.rows(today())
    assert (row.status, row.prompt_tokens) == ("error", 7)
    assert meter.ledger.day_totals(today())[TOTAL].committed == row.cost_usd


def test_an_error_without_tokens_settles_nothing_spent_and_releases_the_hold(meter):
    async def block(reading):
        raise ValueError("upstream broke")

    with pytest.raises(ValueError):
        run(meter, block, prompt_tokens=100)
    (row,) = meter.ledger.rows(today())
    assert (row.status, row.prompt_tokens, row.cost_usd) == ("error", 0, 0)
    assert meter.ledger.day_totals(today())[TOTAL].committed == 0


@pytest.mark.parametrize("model", [PAID, "hf/some/classifier"])  # the second has an output price
def test_a_call_without_bounds_holds_nothing(meter, model):
    async def block(reading):
        held = {key: t.committed for key, t in meter.ledger.day_totals(today()).items() if t.committed}
        assert held == {}  # no negative or invented hold

    (row,) = run(meter, block, model)
    assert row.status == "ok"


def test_a_call_over_the_budget_never_runs(meter):
    ran = []

    async def block(reading):
        ran.append(True)

    with pytest.raises(BudgetExceeded):
        run(meter, block, prompt_tokens=10_000_000_000)
    assert ran == [] and meter.ledger.rows(today()) == []
