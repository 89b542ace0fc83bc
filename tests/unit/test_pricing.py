"""Prices, worst cases and budget arithmetic, in Decimal."""

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from airelay.errors import NotConfigured
from airelay.providers.base import Usage
from airelay.tokens import count_prompt, prompt_bound
from airelay.usage.limits import parse_identity_budgets
from airelay.usage.meter import seconds_until_reset
from airelay.usage.pricing import image_bound, image_figures, largest_image_tokens, load_prices

PRICES = load_prices()


def test_cost_counts_cached_tokens_once_at_the_cached_price():
    # GIVEN 1000 prompt tokens of which 200 cached, 500 completion tokens on gpt-4o-mini (0.15 / 0.075 / 0.60)
    cost = PRICES.price("openai/gpt-4o-mini").cost(Usage(1000, 500, 200))
    # THEN 800 x 0.15 + 200 x 0.075 + 500 x 0.60 per million, exactly
    assert cost == Decimal("0.000435")


@pytest.mark.parametrize(("prompt", "cached"), [(200, 200), (100, 200)])
def test_a_prompt_all_cached_costs_the_cached_price_only(prompt, cached):
    # cached tokens reported beyond the prompt (no provider should) never make the uncached part negative
    cost = PRICES.price("openai/gpt-4o-mini").cost(Usage(prompt, 0, cached))
    assert cost == cached * Decimal("0.075") / 1_000_000


def test_the_table_is_dated_and_sourced():
    assert PRICES.date == "2026-11-01" and "OpenAI" in PRICES.source


def test_local_models_are_free_and_unknown_models_are_refused():
    assert PRICES.price("local/smollm2-135m").free
    with pytest.raises(NotConfigured, match=r"openai/mystery.*MODEL_PRICES"):
        PRICES.price("openai/mystery")


def test_overrides_add_and_replace_prices():
    prices = load_prices(
        '{"openai/mystery": {"input": "1", "output": "2"}, "openai/gpt-4o-mini": {"input": 0, "output": 0}}'
    )
    assert prices.price("openai/mystery").cached_input == Decimal(1)  # defaults to the input price
    assert prices.price("openai/gpt-4o-mini").free
    assert "MODEL_PRICES" in prices.source


def test_a_wildcard_prices_every_model_of_a_prefix():
    prices = load_prices('{"hf/*": {"input": 0, "output": 0}}')
    assert prices.price("hf/google/vit-base-patch16-224").free
    for look_alike in ("openai/mystery", "hfx/google/vit", "h/google/vit", "hf", "hf-google/vit"):
        with pytest.raises(NotConfigured):  # only the whole prefix before the `*` matches
            prices.price(look_alike)


@pytest.mark.parametrize(
    "entry", [{"input": 1, "output": 0}, {"input": 0, "output": 1}, {"input": 0, "cached_input": 1, "output": 0}]
)
def test_a_model_with_any_price_above_zero_is_not_free_and_reserves(entry):
    price = load_prices(json.dumps({"openai/some": entry})).price("openai/some")
    assert not price.free
    assert price.worst_case(1_000_000, 1_000_000) == entry["input"] + entry["output"]


@pytest.mark.parametrize(
    "bad",
    [
        "[1]",
        '{"m": {"input": "x", "output": 1}}',
        '{"m": {"output": 1}}',
        '{"m": {"input": -1, "output": 1}}',
        "not json",
    ],
)
def test_bad_overrides_fail_with_a_message(bad):
    with pytest.raises(ValueError, match=r"MODEL_PRICES|price of m"):
        load_prices(bad)


def test_worst_case_is_prompt_at_input_plus_max_tokens_at_output():
    assert PRICES.price("openai/gpt-4o-mini").worst_case(1000, 500) == Decimal("0.00045")


@pytest.mark.parametrize(
    "text", ["hello world", "배송은 얼마나 걸리나요?", "👋🏽 emoji " * 20, "a" * 5000, '{"json": [1, 2, 3]}\n\n' * 10]
)
def test_prompt_bound_is_never_below_the_real_token_count(text):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    assert prompt_bound(messages) >= count_prompt(messages)


def test_budgets_reset_at_midnight_utc():
    assert seconds_until_reset(datetime(2026, 11, 26, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_until_reset(datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC)) == 86400
    assert seconds_until_reset(datetime(2026, 11, 26, 23, 59, 59, 500_000, tzinfo=UTC)) == 1  # never "retry in 0 s"


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 26, 10, 0, 0, 500_000, tzinfo=UTC),
        datetime(2026, 11, 26, 23, 59, 58, 500_000, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 30, 1, tzinfo=UTC),
        datetime(2028, 2, 28, 0, 0, 0, 999_999, tzinfo=UTC),
    ],
)
def test_a_budget_refusals_retry_after_never_comes_before_midnight(now):
    # Retry-After is whole seconds: waiting them brings a client back on the next day, not a moment before it (a
    # fraction of a second cut off sent it back still on the refused day), and no more than a second after it
    retry_after = seconds_until_reset(now)
    assert (now + timedelta(seconds=retry_after)).date() == now.date() + timedelta(days=1)
    assert (now + timedelta(seconds=retry_after - 1)).date() == now.date()


def test_identity_budget_overrides_parse():
    assert parse_identity_budgets("key:abc=20, ip:2001:db8::1=0.5") == {
        "key:abc": Decimal(20),
        "ip:2001:db8::/64": Decimal("0.5"),  # an IPv6 visitor is known by its /64
    }
    with pytest.raises(ValueError, match="identity=USD"):
        parse_identity_budgets("key:abc")


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        # OpenAI's documented examples (platform.openai.com/docs/guides/images-vision, "Calculating costs")
        ("openai/gpt-4o", (1024, 1024), 765),  # 768 x 768: 4 tiles
        ("openai/gpt-4o", (2048, 4096), 1105),  # 1024 x 2048, then 768 x 1536: 6 tiles
        ("openai/gpt-4o-mini", (4032, 3024), 2833 + 4 * 5667),  # a phone photo: 1024 x 768
        ("openai/gpt-4o-mini", (300, 200), 2833 + 6 * 5667),  # counted as if scaled up too: 1152 x 768
        ("openai/gpt-4o-mini", (1000, 8000), 48169),  # never more than the most the model bills
        ("openai/gpt-4.1-mini", (4032, 3024), 2489),  # not tiled: its most
    ],
)
def test_an_image_is_held_at_the_most_its_size_can_bill(model, size, tokens):
    assert image_figures()[model].at_most(*size) == tokens


def documented_tiles(width: int, height: int, scale_up: bool) -> int:
    """OpenAI's rule for tiled models at high detail, written out apart: fit in a 2048-pixel square, then the shortest
    side to 768 (down only, as the docs show; or up too), to whole pixels, then 512-pixel tiles."""
    fit = min(1.0, 2048 / max(width, height))
    width, height = max(1, round(width * fit)), max(1, round(height * fit))
    scale = 768 / min(width, height)
    if scale < 1 or scale_up:
        width, height = round(width * scale), round(height * scale)
    return -(-width // 512) * -(-height // 512)


def test_an_image_is_never_held_at_less_than_its_documented_bill():
    rng = random.Random(12)
    sizes = [(rng.randint(1, 9000), rng.randint(1, 9000)) for _ in range(3000)]
    sizes += [
        (w, h) for w in (1, 511, 512, 513, 767, 768, 769, 1024, 1536, 2048, 2049, 4096) for h in (1, 512, 768, 2048)
    ]
    for width, height in sizes:
        for model, figures in image_figures().items():
            held = figures.at_most(width, height)
            assert held == figures.at_most(height, width) <= image_bound(width, height) <= largest_image_tokens().most
            if figures.tile:
                for scale_up in (False, True):
                    billed = figures.least + figures.tile * documented_tiles(width, height, scale_up)
                    assert held >= min(billed, figures.most), (model, width, height, scale_up)
