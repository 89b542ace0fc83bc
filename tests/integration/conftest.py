import uuid
from dataclasses import dataclass

import pytest

from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage import forget_meter
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import UsageLedger
from airelay.usage.sqlite import SqliteLedger
from local.server import create
from tests.support.aws import create_table_from_template, dynalite_server, dynamo_api
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


@dataclass
class Ledger:
    """Where the local API keeps usage (`environment` selects it) and a reader of the same store."""

    store: UsageLedger
    environment: dict


@pytest.fixture(scope="module")
def dynalite():
    with dynalite_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["sqlite", "dynamodb"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        return Ledger(SqliteLedger(tmp_path / "usage.sqlite3"), {"USAGE_DB_PATH": tmp_path / "usage.sqlite3"})
    endpoint = request.getfixturevalue("dynalite")
    api = dynamo_api(endpoint)
    table = create_table_from_template(api, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return Ledger(
        DynamoLedger(table, api),
        {
            "USAGE_TABLE": table,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
