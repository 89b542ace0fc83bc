"""A buffered answer has one deadline, UPSTREAM_TIMEOUT_S, fallback models included (docs/configuration.md: "deadline
for a buffered answer ... retries included"): the FAQ bot's answer below the match threshold (the chat model, else a
human handoff) and a /v1 buffered answer (relay.complete_any) end within it, so the buffered FAQ function answers
inside its Timeout (30 s) and API Gateway's 29 s. A model that fails at once still falls back within it."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import anyio
import pytest

from airelay import relay, usage
from airelay.errors import ProviderTimeout, ProviderUnavailable
from airelay.faq.build import build_index
from airelay.faq.fallback import answer_with_model
from airelay.faq.index import serialize
from airelay.faq.service import FaqBot
from airelay.faq.source import parse_source
from airelay.providers import registry
from airelay.providers.base import ChatModel, ChatRequest, Finished, TextDelta, Usage
from airelay.settings import get_settings
from airelay.tokens import estimate_request
from tests.fakes import KeyedEmbedder
from tests.support import state

CALLER = usage.Caller(request_id="r-1", identity="ip:203.0.113.7", function="faq")


class Hanging(ChatModel):
    """A provider that never sends its first event (a stalled upstream)."""

    provider = "openai"

    def stream(self, request):
        async def events():
            await anyio.sleep(3600)
            yield  # pragma: no cover

        return events()


class Unavailable(ChatModel):
    """A provider that answers 503 at once."""

    provider = "openai"

    def stream(self, request):
        async def events():
            raise ProviderUnavailable()
            yield  # pragma: no cover

        return events()


class Answering(ChatModel):
    provider = "openai"

    def stream(self, request):
        async def events():
            yield TextDelta("Your order ships tomorrow.")
            yield Finished("stop", Usage(prompt_tokens=40, completion_tokens=5))

        return events()


@pytest.fixture
def chat(monkeypatch, tmp_path):
    """CHAT_MODEL with one fallback (ChatFallbackModels), a 1 s UPSTREAM_TIMEOUT_S; `chat(first, fallback)` installs
    the two providers and returns the settings."""
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    monkeypatch.setenv("CHAT_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("CHAT_FALLBACK_MODELS", "openai/gpt-4o")
    monkeypatch.setenv("UPSTREAM_TIMEOUT_S", "1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    get_settings.cache_clear()
    state.forget_chat_models()
    state.forget_meter()
    # the tokenizer's first load (0.6-1 s, once per process) bills a cut call's prompt: not what is timed here
    asyncio.run(estimate_request(ChatRequest(messages=[{"role": "user", "content": "warm"}], max_tokens=1), ""))

    def install(first: type[ChatModel], fallback: type[ChatModel]):
        state.install(first("openai/gpt-4o-mini"))
        state.install(fallback("openai/gpt-4o"))
        return get_settings()

    yield install
    get_settings.cache_clear()
    state.forget_chat_models()
    state.forget_meter()


def rows(settings) -> list[tuple[str, str]]:
    day = datetime.now(UTC).date().isoformat()
    return sorted((r.model, r.status) for r in usage.get_meter(settings).ledger.rows(day))


def timed(fn, *args):
    started = time.monotonic()
    try:
        return anyio.run(fn, *args), time.monotonic() - started
    except Exception as exc:
        return exc, time.monotonic() - started


def test_the_faq_fallback_answer_hands_off_within_one_deadline_when_every_model_stalls(chat):
    """Both chat models stall: the question is handed off to a human within one UPSTREAM_TIMEOUT_S (at the default
    25 s, inside the FAQ function's 30 s and API Gateway's 29 s), not one per model; the second model, with no time
    left, is never called, and the first is a failed call billed its prompt."""
    settings = chat(Hanging, Hanging)
    answer, elapsed = timed(answer_with_model, "Where is my order?", [], 0.1, settings, CALLER)
    assert answer["source"] == "handoff"
    assert elapsed < 1.5 * settings.upstream_timeout_s
    assert rows(settings) == [("openai/gpt-4o-mini", "error")]


def test_a_model_that_fails_at_once_still_falls_back_within_the_deadline(chat):
    settings = chat(Unavailable, Answering)
    answer, elapsed = timed(answer_with_model, "Where is my order?", [], 0.1, settings, CALLER)
    assert answer == {"source": "model", "answer": "Your order ships tomorrow.", "confidence": 0.1}
    assert elapsed < settings.upstream_timeout_s
    assert rows(settings) == [("openai/gpt-4o", "ok"), ("openai/gpt-4o-mini", "error")]


def test_a_v1_buffered_answer_with_every_model_stalled_is_a_504_within_one_deadline(chat):
    """relay.complete_any, as /v1/chat/completions and /v1/responses call it without `stream`: the fallback chain
    shares one UPSTREAM_TIMEOUT_S, and the deadline leaves the answer's ContextVar as it found it."""
    settings = chat(Hanging, Hanging)
    models = [registry._providers[(ChatModel, m)] for m in ("openai/gpt-4o-mini", "openai/gpt-4o")]
    request = ChatRequest(messages=[{"role": "user", "content": "Say hello."}], max_tokens=20)

    async def answer():
        try:
            return await relay.complete_any(models, request, settings, CALLER)
        finally:
            assert usage.answer_deadline.get() == float("inf")

    failed, elapsed = timed(answer)
    assert isinstance(failed, ProviderTimeout)
    assert elapsed < 1.5 * settings.upstream_timeout_s


class SlowEmbedder(KeyedEmbedder):
    """An embedding provider that takes `seconds` to answer."""

    def __init__(self, seconds: float):
        super().__init__("fake/keyed")
        self.seconds = seconds

    async def embed(self, texts):
        await anyio.sleep(self.seconds)
        return await super().embed(texts)


@pytest.fixture
def faq_bot(chat, monkeypatch, tmp_path):
    """A FAQ bot over a two-entry index; `faq_bot(embed_seconds, first, fallback)`."""
    data = {"entries": [{"id": "shipping", "question": "배송은 얼마나 걸리나요?", "answer": "1~3일 걸립니다."}]}
    source = parse_source(json.dumps(data, ensure_ascii=False).encode(), "faq.json")
    index, _, _ = asyncio.run(build_index(source, KeyedEmbedder("fake/keyed")))
    (tmp_path / "faq-index.bin").write_bytes(serialize(index))
    monkeypatch.setenv("FAQ_INDEX_URL", f"file://{tmp_path / 'faq-index.bin'}")
    monkeypatch.setenv("FAQ_EMBEDDING_MODEL", "fake/keyed")
    monkeypatch.setenv("FAQ_THRESHOLDS", "fake/keyed=0.99")  # every other question goes to the chat model
    monkeypatch.setenv("MODEL_PRICES", '{"fake/keyed": {"input": 0.02, "output": 0}}')

    def make(embed_seconds: float, first: type[ChatModel], fallback: type[ChatModel]) -> FaqBot:
        get_settings.cache_clear()
        settings = chat(first, fallback)
        monkeypatch.setitem(registry._providers, (registry.Embedder, "fake/keyed"), SlowEmbedder(embed_seconds))
        return FaqBot(settings)

    return make


def test_the_faq_answer_counts_the_question_embedding_in_its_deadline(faq_bot):
    """FaqBot.answer: the question's embedding and the chat models share the one deadline; the chat model gets the
    time the embedding left, then the question is handed off."""
    bot = faq_bot(0.6, Hanging, Hanging)
    reply, elapsed = timed(bot.answer, "오늘 날씨 어때요?", 1, CALLER)
    assert reply.body["source"] == "handoff"
    assert elapsed < 1.5 * bot.settings.upstream_timeout_s


def test_an_embedding_that_outlasts_the_deadline_is_a_504(faq_bot):
    bot = faq_bot(30, Answering, Answering)
    failed, elapsed = timed(bot.answer, "오늘 날씨 어때요?", 1, CALLER)
    assert isinstance(failed, ProviderTimeout)
    assert elapsed < 1.5 * bot.settings.upstream_timeout_s
    assert rows(bot.settings) == [("fake/keyed", "error")]
