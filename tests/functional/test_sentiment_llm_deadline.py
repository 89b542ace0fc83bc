"""SentimentFunction with SENTIMENT_MODEL=llm/<chat model>: a call cut by the deadline is billed its prompt, as every
other buffered chat call is (docs/architecture.md, "Streaming, failures and deadlines": "A buffered call ... cut by
a deadline (UPSTREAM_TIMEOUT_S ...) ... is settled with its prompt's tokens, estimated (the provider has it, and may
bill it)"). Same style as tests/functional/test_sentiment_function.py."""

import json

import pytest

from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import CHAT_MODEL
from tests.functional.test_sentiment_function import invoke, usage_rows
from tests.support import state
from tests.support.state import forget_meter
from tests.support.upstream import SlowFirstByte


@pytest.fixture(autouse=True)
def sentiment_settings(monkeypatch):
    for name in ("SENTIMENT_MODEL", "SENTIMENT_TEXT_MAX_CHARS"):
        monkeypatch.delenv(name, raising=False)
    state.forget_classifiers(keep_local=True)
    yield
    state.forget_classifiers(keep_local=True)


@pytest.mark.upstream_failure  # the chat model sends nothing in time: 504
def test_an_llm_sentiment_call_cut_by_the_deadline_is_billed_its_prompt(monkeypatch, upstream):
    # GIVEN SENTIMENT_MODEL=llm/<chat model>, a 1 s deadline, and a chat model that sends nothing for 30 s
    monkeypatch.setenv("SENTIMENT_MODEL", f"llm/{CHAT_MODEL}")
    monkeypatch.setenv("UPSTREAM_TIMEOUT_S", "1")
    get_settings.cache_clear()
    forget_meter()
    upstream.script(SlowFirstByte(30))
    # WHEN a text arrives
    status, _, body = invoke(Container(find_function("SentimentFunction")), "sentiment_en")
    # THEN it is a 504
    assert status == 504 and json.loads(body)["error"]["code"] == "provider_timeout"
    # AND the upstream had the prompt, so the usage row bills its tokens, estimated (as chat and the FAQ bot do)
    assert len(upstream.requests) == 1
    [row] = usage_rows()
    assert (row.function, row.model, row.status) == ("sentiment", CHAT_MODEL, "error")
    assert row.prompt_tokens > 0 and row.estimated, row
    assert row.cost_usd > 0
