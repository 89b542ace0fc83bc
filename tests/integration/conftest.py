import pytest

from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage import forget_meter
from local.server import create
from tests.support.servers import ServerThread


@pytest.fixture
def local_api(monkeypatch, tmp_path):
    """Starts the local API (template routes, real uvicorn) with the given environment; yields its base URL."""
    running = []

    def start(**environment) -> str:
        for name in ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY_PARAM", "LOCAL_MODEL_BASE_URL"):
            monkeypatch.delenv(name, raising=False)
        environment.setdefault("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
        for name, value in environment.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()
        registry.forget_chat_models()
        forget_meter()
        server = ServerThread(create()).__enter__()
        running.append(server)
        return server.url

    yield start
    for server in running:
        server.__exit__(None, None, None)
    get_settings.cache_clear()
    registry.forget_chat_models()
    forget_meter()
