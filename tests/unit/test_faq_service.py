"""The warm FAQ bot's parts: the index holder (reload, keep the last good index), the question cache, thresholds."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from airelay import usage
from airelay.errors import BudgetExceeded, FaqIndexMissing, FaqIndexUnusable, NotConfigured
from airelay.faq.build import build_index
from airelay.faq.index import serialize
from airelay.faq.service import FaqBot, IndexHolder, QuestionCache, threshold_for
from airelay.faq.source import parse_source
from airelay.providers import registry
from airelay.settings import Settings
from airelay.usage.ledger import TOTAL
from tests.fakes import KeyedEmbedder
from tests.support import state


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def index_bytes(answer="1~3일 걸립니다.", model="fake/keyed"):
    data = {
        "entries": [
            {"id": "shipping", "question": "배송은 얼마나 걸리나요?", "answer": answer},
            {"id": "refund", "question": "환불은 언제 되나요?", "answer": "1~2영업일"},
        ]
    }
    faq = parse_source(json.dumps(data, ensure_ascii=False).encode(), "faq.json")
    index, _, _ = asyncio.run(build_index(faq, KeyedEmbedder(model)))
    return serialize(index)


@pytest.fixture
def holder(tmp_path):
    clock = Clock()
    path = tmp_path / "faq-index.bin"
    h = IndexHolder(f"file://{path}", "fake/keyed", check_every_s=30, clock=clock)
    return h, path, clock


def write(path, data, bump_ns):
    """Write and give the file a distinct mtime (two writes within one clock tick would look unchanged)."""
    import os

    path.write_bytes(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump_ns))


def test_missing_index_says_how_to_build_it(holder):
    h, _, _ = holder
    with pytest.raises(FaqIndexMissing) as missing:
        h.get()
    assert missing.value.status == 503 and "make faq-index" in missing.value.message


def test_loaded_once_and_reloaded_only_after_the_check_interval(holder):
    h, path, clock = holder
    write(path, index_bytes("old answer"), 0)
    # GIVEN a loaded index
    assert h.get().entries[0].answer == "old answer" and h.loads == 1
    # WHEN a new object appears within the check interval THEN the container keeps the loaded one
    write(path, index_bytes("new answer"), 1_000_000)
    clock.now += 29
    assert h.get().entries[0].answer == "old answer" and h.loads == 1
    # AND after the interval it notices the new version and loads it
    clock.now += 2
    assert h.get().entries[0].answer == "new answer" and h.loads == 2
    # AND an unchanged version is not downloaded again
    clock.now += 31
    h.get()
    assert h.loads == 2


def test_a_corrupt_upload_keeps_the_previous_index(holder):
    h, path, clock = holder
    write(path, index_bytes("good answer"), 0)
    good = h.get()
    # WHEN the object is replaced by a truncated upload
    write(path, index_bytes("bad")[:-10], 1_000_000)
    clock.now += 31
    # THEN the previous good index stays in use
    assert h.get() is good
    # AND when a good object follows, it is loaded
    write(path, index_bytes("fixed answer"), 2_000_000)
    clock.now += 31
    assert h.get().entries[0].answer == "fixed answer"


def test_a_corrupt_first_index_is_a_clear_error(holder):
    h, path, _ = holder
    write(path, b"not an index at all, just some bytes" * 3, 0)
    with pytest.raises(FaqIndexUnusable, match="cannot be read") as refused:
        h.get()
    assert refused.value.status == 503


def test_an_index_of_another_model_is_never_loaded(holder):
    h, path, clock = holder
    write(path, index_bytes(model="fake/other"), 0)
    with pytest.raises(FaqIndexUnusable, match="fake/other"):
        h.get()
    # AND a good index replacing it is picked up at the next check
    write(path, index_bytes("right model"), 1_000_000)
    clock.now += 31
    assert h.get().entries[0].answer == "right model"


def test_question_cache_keeps_the_most_recent(holder):
    cache = QuestionCache(2)
    a, b, c = (np.full(4, i, np.float32) for i in range(3))
    cache.put("배송  기간?", a)
    cache.put("환불", b)
    assert cache.get(" 배송 기간? ") is a  # whitespace does not make a new question
    cache.put("결제", c)  # evicts the least recently used: 환불
    assert cache.get("환불") is None and cache.get("결제") is c


def test_thresholds_come_from_data_and_can_be_overridden():
    assert threshold_for("local/use-multilingual", Settings.from_env({})) == 0.55
    overridden = Settings.from_env({"FAQ_THRESHOLDS": "local/use-multilingual=0.7,fake/keyed=0.1"})
    assert threshold_for("local/use-multilingual", overridden) == 0.7 and threshold_for("fake/keyed", overridden) == 0.1
    with pytest.raises(NotConfigured, match="FAQ_THRESHOLDS"):
        threshold_for("fake/unknown", Settings.from_env({}))


@pytest.mark.parametrize(
    "env",
    [
        {"FAQ_THRESHOLDS": "0.6"},
        {"FAQ_THRESHOLDS": "local/x=high"},
        {"FAQ_THRESHOLDS": "local/x=2"},
        {"FAQ_TOP_K_DEFAULT": "20"},
    ],
)
def test_bad_faq_settings_stop_the_function_at_start(env):
    with pytest.raises(ValueError, match="FAQ_"):
        Settings.from_env(env)


PAID_EMBEDDER = "openai/text-embedding-3-small"  # $0.02 per million input tokens
QUESTION = "zq#! 배송?"  # 12 bytes


def embed_on_a_budget(monkeypatch, tmp_path, budget: Decimal) -> tuple[KeyedEmbedder, list, Exception | None]:
    """One FAQ question embedded by a paid model whose upstream bills the most a question can cost: a token per
    byte and a start token. The embedder, the day's rows, and the refusal if there was one."""
    embedder = KeyedEmbedder(PAID_EMBEDDER, tokens_per_text=len(QUESTION.encode()) + 1)
    monkeypatch.setitem(registry._providers, (registry.Embedder, PAID_EMBEDDER), embedder)
    settings = Settings(
        usage_db_path=str(tmp_path / "usage.sqlite3"), daily_budget_usd=budget, faq_embedding_model=PAID_EMBEDDER
    )
    state.forget_meter()
    refused = None
    try:
        meter = usage.get_meter(settings)
        try:
            asyncio.run(FaqBot(settings).embed(QUESTION, usage.Caller("req-1", "ip:1", "faq")))
        except BudgetExceeded as exc:
            refused = exc
        day = datetime.now(UTC).date().isoformat()
        totals, rows = meter.ledger.day_totals(day).get(TOTAL), meter.ledger.rows(day)
    finally:
        state.forget_meter()
    assert totals is None or totals.committed == sum(r.cost_usd for r in rows) <= budget  # every hold released
    return embedder, rows, refused


def test_a_question_embedding_holds_its_whole_worst_case_so_spend_never_passes_the_budget(monkeypatch, tmp_path):
    worst = (len(QUESTION.encode()) + 1) * Decimal("0.02") / 1_000_000
    # GIVEN a budget of exactly the embedding's worst case THEN it is served and spends the whole budget
    embedder, rows, refused = embed_on_a_budget(monkeypatch, tmp_path / "exact", worst)
    assert refused is None and embedder.calls == 1 and [r.cost_usd for r in rows] == [worst]
    # GIVEN a budget a nano-dollar short of it THEN the question is refused before the paid call, nothing spent
    embedder, rows, refused = embed_on_a_budget(monkeypatch, tmp_path / "short", worst - Decimal("0.000000001"))
    assert refused is not None and embedder.calls == 0 and rows == []
