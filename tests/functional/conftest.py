import json
from pathlib import Path

import pytest

from airelay.providers import registry
from airelay.settings import get_settings

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    for name in ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ALLOWED_CHAT_MODELS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    registry.forget_chat_models()
    yield
    get_settings.cache_clear()
    registry.forget_chat_models()
