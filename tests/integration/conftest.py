import asyncio
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from airelay import aws
from airelay.faq.build import build_index
from airelay.faq.index import serialize
from airelay.faq.source import parse_source
from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import UsageLedger
from airelay.usage.sqlite import SqliteLedger
from local.server import create
from tests.support import state
from tests.support.aws import create_table_from_template, dynalite_server, local_clients
from tests.support.servers import ServerThread
from tests.support.state import forget_meter


class LocalApis:
    """Starts the local API (template routes, real uvicorn) with a given environment, and stops every one started."""

    def __init__(self, monkeypatch, usage_db: Path) -> None:
        self.monkeypatch = monkeypatch
        self.usage_db = usage_db
        self.running: list[ServerThread] = []

    def start(self, **environment) -> str:
        for name in ("CHAT_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_KEY_PARAM", "LOCAL_MODEL_BASE_URL"):
            self.monkeypatch.delenv(name, raising=False)
        environment.setdefault("USAGE_DB_PATH", str(self.usage_db))
        for name, value in environment.items():
            self.monkeypatch.setenv(name, str(value))
        forget_cached_state()
        server = ServerThread(create()).__enter__()
        self.running.append(server)
        return server.url

    def stop_all(self) -> None:
        for server in self.running:
            server.__exit__(None, None, None)
        self.monkeypatch.undo()  # before the caches are emptied, so nothing refills them from this test's environment
        forget_cached_state()


def forget_cached_state() -> None:
    get_settings.cache_clear()
    state.forget_chat_models()
    forget_meter()
    aws.reset()


@pytest.fixture
def local_api(monkeypatch, tmp_path):
    """Starts the local API with the given environment; yields its base URL."""
    apis = LocalApis(monkeypatch, tmp_path / "usage.sqlite3")
    yield apis.start
    apis.stop_all()


@pytest.fixture(scope="module")
def module_local_api(tmp_path_factory):
    """local_api for a whole module, so that one running API can answer many tests."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        apis = LocalApis(monkeypatch, tmp_path_factory.mktemp("usage") / "usage.sqlite3")
        yield apis.start
        apis.stop_all()


@pytest.fixture(scope="session")
def example_faq_index(tmp_path_factory) -> Path:
    """The example FAQ embedded with the real local embedder, as `make faq-index` builds it."""
    source = parse_source(resources.files("airelay").joinpath("data/faq/shop_faq.yaml").read_bytes(), "shop_faq.yaml")

    async def build():
        index, _, _ = await build_index(source, await registry.embedder("local/use-multilingual"))
        return index

    path = tmp_path_factory.mktemp("faq") / "faq-index.bin"
    path.write_bytes(serialize(asyncio.run(build())))
    return path


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
    clients = local_clients(endpoint)
    table = create_table_from_template(clients.dynamodb, "UsageTable", f"usage-{uuid.uuid4().hex[:8]}")
    return Ledger(
        DynamoLedger(table, clients),
        {
            "USAGE_TABLE": table,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # boto3 reads this one; Lambda sets both
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
    )
