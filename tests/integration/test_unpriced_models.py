"""A paid model without a price is never served and metered as free: a configuration that names one (a chat model
a client may ask for, a fallback, the sentiment model) is refused with 500 `not_configured` before any upstream
call, and leaves no usage row. Pricing it with MODEL_PRICES serves it and bills it at that price."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from airelay.usage.sqlite import SqliteLedger
from tests.support.upstream import FakeUpstream, Status

PRICED, UNPRICED = "openai/gpt-4o-mini", "openai/gpt-unpriced"
BODY = {"message": "Say hello.", "max_tokens": 20}


@pytest.fixture
def upstream():
    with FakeUpstream(models=("gpt-4o-mini", "gpt-unpriced")) as up:
        yield up


@pytest.fixture
def usage(tmp_path):
    """The ledger the local API writes to, read directly (the usage function refuses the same configuration)."""
    return SqliteLedger(tmp_path / "usage.sqlite3")


@pytest.fixture
def start(local_api, upstream, tmp_path):
    def start(**environment) -> str:
        return local_api(
            CHAT_MODEL=PRICED,
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            USAGE_DB_PATH=tmp_path / "usage.sqlite3",
            **environment,
        )

    return start


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def assert_not_configured(response: httpx.Response) -> None:
    assert response.status_code == 500, response.text[:300]
    assert response.json()["error"]["code"] == "not_configured"


@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/stream"])
def test_an_unpriced_model_a_client_may_ask_for_is_refused(start, upstream, usage, route):
    # GIVEN ALLOWED_CHAT_MODELS naming a model that has no price
    api = start(ALLOWED_CHAT_MODELS=f"{PRICED},{UNPRICED}")
    # WHEN a client asks for it, or for the priced default
    unpriced = httpx.post(f"{api}{route}", json={**BODY, "model": UNPRICED}, timeout=10)
    default = httpx.post(f"{api}{route}", json=BODY, timeout=10)
    # THEN the function refuses to serve at all until the configuration is fixed: nothing reaches the upstream,
    # and nothing is metered
    assert_not_configured(unpriced)
    assert_not_configured(default)
    assert "MODEL_PRICES" in unpriced.json()["error"]["message"]
    assert upstream.requests == []
    assert usage.rows(today()) == [] and usage.day_totals(today()) == {}


def test_an_unpriced_fallback_model_is_refused(start, upstream, usage):
    # GIVEN a priced model that fails, and a fallback model without a price
    upstream.script(*[Status(503)] * 3)
    api = start(CHAT_FALLBACK_MODELS=UNPRICED, UPSTREAM_MAX_RETRIES=0)
    # WHEN a client asks for an answer
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=10)
    # THEN it is refused before any model is called, and nothing is metered
    assert_not_configured(response)
    assert upstream.requests == []
    assert usage.rows(today()) == [] and usage.day_totals(today()) == {}


def test_an_unpriced_sentiment_model_is_refused(start, upstream, usage):
    # GIVEN a sentiment model that is an unpriced chat model
    api = start(SENTIMENT_MODEL=f"llm/{UNPRICED}")
    # WHEN a client asks for a sentiment
    response = httpx.post(f"{api}/api/sentiment", json={"text": "배송이 빨라서 좋아요"}, timeout=10)
    # THEN it is refused before the model is called, and nothing is metered
    assert_not_configured(response)
    assert upstream.requests == []
    assert usage.rows(today()) == [] and usage.day_totals(today()) == {}


def test_the_same_model_priced_by_configuration_is_served_and_billed_at_that_price(start, upstream, usage):
    # GIVEN the same configuration, with the model priced by MODEL_PRICES
    prices = {UNPRICED: {"input": "1.00", "output": "2.00"}}
    api = start(ALLOWED_CHAT_MODELS=f"{PRICED},{UNPRICED}", MODEL_PRICES=json.dumps(prices))
    # WHEN a client asks for it
    answer = httpx.post(f"{api}/api/chat", json={**BODY, "model": UNPRICED}, timeout=10).json()
    # THEN it is served, and billed at that price
    assert answer["model"] == UNPRICED and upstream.requests[0]["model"] == "gpt-unpriced"
    tokens = answer["usage"]
    expected = (tokens["prompt_tokens"] * Decimal("1.00") + tokens["completion_tokens"] * Decimal("2.00")) / 1_000_000
    assert tokens["completion_tokens"] > 0 and Decimal(str(answer["cost_usd"])) == expected
    [row] = usage.rows(today())
    assert (row.model, row.cost_usd) == (UNPRICED, expected)
