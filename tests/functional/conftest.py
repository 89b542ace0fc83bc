import json
from pathlib import Path

import pytest

from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage import forget_meter

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch, tmp_path):
    for name in ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ALLOWED_CHAT_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    get_settings.cache_clear()
    registry.forget_chat_models()
    forget_meter()
    yield
    get_settings.cache_clear()
    registry.forget_chat_models()
    forget_meter()
