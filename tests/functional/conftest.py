import json
from pathlib import Path

import pytest

from airelay.settings import get_settings
from tests.support import state
from tests.support.state import forget_meter
from tests.support.upstream import FakeUpstream

EVENTS = Path(__file__).resolve().parents[2] / "events"
CHAT_MODEL = "openai/gpt-4o-mini"  # answered by the fake upstream (the `upstream` fixture)


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path):
    for name in ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ALLOWED_CHAT_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()
    yield
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()


@pytest.fixture(scope="session")
def fake_upstream():
    """The fault-injecting OpenAI-compatible server (tests/support/upstream) on 127.0.0.1, once per session."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(fake_upstream, monkeypatch):
    """Chat goes through the real OpenAI-compatible provider to the fake upstream: a priced model, no retries, short
    deadlines. Yields the upstream with a clean script and record; it must have seen no server-side error."""
    fake_upstream.reset()
    settings = {
        "CHAT_MODEL": CHAT_MODEL,
        "OPENAI_BASE_URL": fake_upstream.base_url,
        "OPENAI_API_KEY": "sk-test",
        "UPSTREAM_MAX_RETRIES": "0",
        "UPSTREAM_TIMEOUT_S": "5",
        "STREAM_IDLE_TIMEOUT_S": "1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()
    yield fake_upstream
    assert not fake_upstream.errors


def upstream_prompt_tokens(messages: list[dict]) -> int:
    """What the fake upstream reports as prompt tokens: 4 per message plus its words (tests/support/upstream)."""
    return sum(4 + len(m["content"].split()) for m in messages)
