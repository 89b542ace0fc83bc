"""Spent: the one place that sums an answer's model calls and shapes their usage for each answer that shows it."""

from dataclasses import replace
from decimal import Decimal

from airelay.openapi import ChatStep, ChatUsage
from airelay.openapi_stream import StreamUsage
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.spent import Spent
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger

CALLS = [(Usage(120, 30, 100), Decimal("0.00012")), (Usage(200, 15, 0, estimated=True), Decimal("0.00020"))]


def meter(tmp_path) -> Meter:
    return Meter(
        SqliteLedger(tmp_path / "usage.sqlite3"), load_prices(), replace(Settings(), usd_krw_rate=Decimal("1400"))
    )


def test_the_calls_of_an_answer_add_up_and_one_estimate_makes_the_sum_estimated():
    spent = Spent.total(CALLS)
    assert spent.usage == Usage(320, 45, 100, estimated=True)
    assert spent.cost_usd == Decimal("0.00032")
    assert Spent.total([]) == Spent(Usage(), Decimal(0))


def test_the_chat_answer_shows_the_sum_in_its_declared_fields(tmp_path):
    shaped = Spent.total(CALLS).chat_answer(meter(tmp_path))
    assert shaped["tokens_used"] == 365 and shaped["cost_usd"] == 0.00032 and shaped["cost_krw"] == 0.45
    assert ChatUsage.model_validate(shaped["usage"]) == ChatUsage(
        prompt_tokens=320, completion_tokens=45, cached_tokens=100, estimated=True
    )


def test_a_step_and_the_stream_part_match_their_declared_models(tmp_path):
    step = {"text": "", "reasoning": "", "tool_calls": [], "finish_reason": "stop", **Spent(*CALLS[0]).chat_step()}
    assert ChatStep.model_validate(step).usage.prompt_tokens == 120
    data = StreamUsage.model_validate(Spent.total(CALLS).stream_data("openai/gpt-4o-mini", meter(tmp_path), 2))
    assert (data.inputTokens, data.outputTokens, data.cachedTokens, data.steps) == (320, 45, 100, 2)
    assert data.estimated and data.costKrw == 0.45
