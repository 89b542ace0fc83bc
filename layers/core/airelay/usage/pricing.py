"""Model prices as dated data (data/prices.json), overridable by configuration. Money is Decimal, never float.
The same table holds what each vision model bills for one image, in prompt tokens."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from ..errors import NotConfigured
from ..providers.base import Usage

MILLION = Decimal(1_000_000)
FREE_PROVIDERS = ("local/",)  # models running on our own hardware cost nothing in API fees


@dataclass(frozen=True, slots=True)
class Price:
    input: Decimal
    cached_input: Decimal
    output: Decimal

    def cost(self, usage: Usage) -> Decimal:
        uncached = max(usage.prompt_tokens - usage.cached_tokens, 0)
        per_million = (
            uncached * self.input + usage.cached_tokens * self.cached_input + usage.completion_tokens * self.output
        )
        return per_million / MILLION

    def worst_case(self, prompt_tokens: int, max_tokens: int) -> Decimal:
        return (prompt_tokens * self.input + max_tokens * self.output) / MILLION

    @property
    def free(self) -> bool:
        return not (self.input or self.cached_input or self.output)


FREE = Price(Decimal(0), Decimal(0), Decimal(0))


class PriceBook:
    def __init__(self, prices: dict[str, Price], source: str, date: str) -> None:
        self.prices = prices
        self.source = source
        self.date = date

    def price(self, model_id: str) -> Price:
        """The model's price; a key ending in `*` (e.g. `hf/*`) prices every model id with that prefix."""
        price = self.prices.get(model_id)
        if price is not None:
            return price
        for pattern, price in self.prices.items():
            if pattern.endswith("*") and model_id.startswith(pattern[:-1]):
                return price
        if model_id.startswith(FREE_PROVIDERS):
            return FREE
        raise NotConfigured(f"The model '{model_id[:80]}' has no price: add it to MODEL_PRICES.")

    def check(self, model_ids) -> None:
        for model_id in model_ids:
            self.price(model_id)


def parse_price(model_id: str, entry: dict) -> Price:
    try:
        values = {k: Decimal(str(entry[k])) for k in ("input", "output")}
        values["cached_input"] = Decimal(str(entry.get("cached_input", entry["input"])))
    except (KeyError, InvalidOperation, TypeError):
        raise ValueError(f"price of {model_id} needs numeric 'input' and 'output' (USD per 1M tokens)") from None
    if not all(v.is_finite() and v >= 0 for v in values.values()):  # a NaN cannot even be compared
        raise ValueError(f"price of {model_id} must be a finite number, 0 or more")
    return Price(**values)


@cache
def _table() -> dict:
    return json.loads(resources.files("airelay").joinpath("data/prices.json").read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class ImageTokens:
    least: int  # the smallest image, at low detail where the model has one
    most: int  # the largest, at high detail
    tile: int = 0  # a tiled model's price of one 512-pixel tile at high detail, on top of `least` (0: not tiled)

    def at_most(self, width: int, height: int) -> int:
        """The most an image of this size can bill: a tiled model's 512-pixel tiles at high detail, never more than
        `most`; any other model's `most`. OpenAI fits the image in a 2048-pixel square, then scales its shortest side
        down to 768: here the shortest side is scaled to 768 up or down, which never counts fewer tiles (an upper
        bound: small and very wide images are held at more than they bill)."""
        if not self.tile:
            return self.most
        scale = 768 / min(width, height)
        tiles = math.ceil(width * scale / 512 - 1e-9) * math.ceil(height * scale / 512 - 1e-9)
        return min(self.most, self.least + self.tile * tiles)


@cache
def image_figures() -> dict[str, ImageTokens]:
    models = _table()["models"]
    return {m: ImageTokens(**entry["image_tokens"]) for m, entry in models.items() if "image_tokens" in entry}


@cache
def largest_image_tokens() -> ImageTokens:
    figures = image_figures().values()
    return ImageTokens(max(f.least for f in figures), max(f.most for f in figures))


def image_bound(width: int, height: int) -> int:
    """The most any model of the table bills for an image of this size: what a chat call holds for it, for every
    model of a fallback chain. A model the table does not list (gpt-4.1, gpt-5, a self-hosted one) is covered by
    gpt-4o-mini's figure, at least 25,501 for any size: OpenAI's patch-based models bill at most a few thousand."""
    return max(figures.at_most(width, height) for figures in image_figures().values())


def image_tokens(model_id: str | None) -> ImageTokens:
    """What the model bills for one image. A model the table does not list (or None: not known yet) gets the table's
    largest of each figure, so that neither an estimate nor a reservation falls short of any model's bill."""
    return image_figures().get(model_id) or largest_image_tokens()


def load_prices(overrides_json: str = "") -> PriceBook:
    """The dated table, with MODEL_PRICES ({"model id": {"input": .., "cached_input": .., "output": ..}}) on top."""
    table = _table()
    prices = {model_id: parse_price(model_id, entry) for model_id, entry in table["models"].items()}
    source = f"{table['source']} ({table['date']})"
    if overrides_json:
        try:
            overrides = json.loads(overrides_json)
        except ValueError:
            raise ValueError("MODEL_PRICES must be a JSON object") from None
        if not isinstance(overrides, dict):
            raise ValueError("MODEL_PRICES must be a JSON object")
        prices.update({model_id: parse_price(model_id, entry) for model_id, entry in overrides.items()})
        source += " + MODEL_PRICES"
    return PriceBook(prices, source, table["date"])
