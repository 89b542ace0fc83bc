"""SnapStart: what INIT makes that each environment restored from one snapshot must not share: the budget leases'
random ids, the provider keys read from SSM (rotated since the snapshot, perhaps), renewed in place for every provider
that holds them."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest

from airelay import aws, snapstart
from airelay.providers import registry
from airelay.settings import get_settings
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, USD, Hold
from tests.support import state
from tests.support.aws import moto_server


class LeaseStore:
    """A DynamoLeases stand-in that records the lease ids it is asked to grant."""

    def __init__(self) -> None:
        self.granted: list[str] = []

    def grant(self, lease, hold, now):
        self.granted.append(lease.lease_id)
        return lease.size

    def reserve(self, call_id, holds):
        pass

    def settle(self, row, holds=()):
        pass

    def give_back(self, lease):
        return Decimal(0)

    def draw(self, lease, drawn):
        return True


def first_lease_id_after_restore(ledger: LeasedLedger, store: LeaseStore, snapshot) -> str:
    """One environment restored from the snapshot: the ledger's memory as INIT left it, then the restore hook, then
    its first paid call (which takes a lease)."""
    ledger.rng.setstate(snapshot["ledger_rng"])
    random.setstate(snapshot["random"])
    ledger._open.clear()
    snapstart.after_restore()
    day = "2026-12-04"
    ledger.reserve(f"call-{len(store.granted)}", [Hold(day, TOTAL, USD, Decimal("0.01"), Decimal("100"), "global")])
    return store.granted[-1]


def test_restored_environments_take_leases_with_different_ids():
    # GIVEN the leased ledger INIT makes (BUDGET_LEASES): a lease record is keyed by its id, so two environments
    # restored from one snapshot must not draw the same ones
    store = LeaseStore()
    ledger = LeasedLedger(store, 30.0)  # as open_ledger makes it at INIT
    snapshot = {"ledger_rng": ledger.rng.getstate(), "random": random.getstate()}
    first = first_lease_id_after_restore(ledger, store, snapshot)
    second = first_lease_id_after_restore(ledger, store, snapshot)
    assert first != second, "two environments restored from one snapshot took leases with the same id"


PARAM = "/airelay/openai-api-key"


class Embeddings(BaseHTTPRequestHandler):
    """An OpenAI-compatible embeddings endpoint that notes the key of every request."""

    keys: ClassVar[list[str]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        Embeddings.keys.append(self.headers.get("authorization", ""))
        if self.path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": i, "embedding": [1.0] * 1536} for i, _ in enumerate(body["input"])]
            answer = {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        else:
            answer = {}
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def embeddings_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Embeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


@pytest.fixture
def ssm(monkeypatch):
    for name in ("OPENAI_API_KEY", "CHAT_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with moto_server(monkeypatch):
        yield boto3.client("ssm")
    get_settings.cache_clear()
    state.forget_chat_models()
    for key in [k for k in registry._providers if k[0] is registry.Embedder]:
        del registry._providers[key]
    registry._retired.clear()
    aws.reset()


def key_at_init(ssm, monkeypatch, base_url: str) -> None:
    """The OpenAI key in SSM by name, as the template passes it, and no provider built yet."""
    ssm.put_parameter(Name=PARAM, Value="sk-at-init", Type="SecureString", Overwrite=True)
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", PARAM)
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    get_settings.cache_clear()
    state.forget_chat_models()


def test_a_restore_reads_the_provider_key_from_ssm_again(ssm, monkeypatch):
    # GIVEN a chat provider built at INIT with the key read from SSM, which is rotated before a restore
    key_at_init(ssm, monkeypatch, "http://127.0.0.1:9")
    model = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))  # INIT
    assert model.client.api_key == "sk-at-init"
    snapstart.before_snapshot()
    ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)  # days later
    snapstart.after_restore()
    restored = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    assert restored.client.api_key == "sk-rotated"


def test_an_openai_embedder_still_works_after_a_restore_renewed_its_key(ssm, monkeypatch, embeddings_server):
    # GIVEN the openai function (embeddings and chat in one container) with its key in SSM, an embedder built at INIT
    monkeypatch.setenv("UPSTREAM_MAX_RETRIES", "0")
    key_at_init(ssm, monkeypatch, embeddings_server)

    async def container():
        embedder = await registry.embedder("openai/text-embedding-3-small")
        await embedder.embed(["before the snapshot"])
        snapstart.before_snapshot()
        ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)
        snapstart.after_restore()
        # WHEN the restored container answers a chat request first (chat_model() closes the retired clients) ...
        await registry.chat_model("openai/gpt-4o-mini", get_settings())
        # ... and then an embeddings request
        embedder = await registry.embedder("openai/text-embedding-3-small")
        return embedder, await embedder.embed(["after the restore"])

    # THEN the embedder answers, with the rotated key.
    embedder, _ = asyncio.run(container())
    assert not embedder.client._client.is_closed
    assert Embeddings.keys[-1] == "Bearer sk-rotated"


def test_a_sentiment_classifier_over_an_openai_model_gets_the_key_read_after_a_failed_restore_read(ssm, monkeypatch):
    # GIVEN the sentiment function with SENTIMENT_MODEL=llm/openai/gpt-4o-mini, its key read from SSM at INIT
    key_at_init(ssm, monkeypatch, "http://127.0.0.1:9")
    state.forget_classifiers()
    try:

        async def container():
            await registry.text_classifier("llm/openai/gpt-4o-mini", get_settings())
            snapstart.before_snapshot()
            # WHEN the key is rotated, and SSM cannot be read at the restore (here: the parameter is briefly gone) ...
            ssm.delete_parameter(Name=PARAM)
            snapstart.after_restore()
            ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)
            # ... and the next request comes once SSM answers again
            return await registry.text_classifier("llm/openai/gpt-4o-mini", get_settings())

        classifier = asyncio.run(container())
        # THEN the classifier calls with the rotated key: the first ask after SSM answers again read it
        assert classifier.chat.client.api_key == "sk-rotated"
    finally:
        state.forget_classifiers()


def ssm_reads(monkeypatch) -> list[str]:
    """The parameter names the container's SSM client is asked for from now on (made again by each restore)."""
    names: list[str] = []
    prepare = aws.prepare

    def count(**kwargs):
        names.append(kwargs["params"]["Name"])

    def prepare_and_count(*services):
        prepare(*services)
        if "ssm" in services:
            aws.clients().client("ssm").meta.events.register("provide-client-params.ssm.GetParameter", count)

    monkeypatch.setattr(aws, "prepare", prepare_and_count)
    return names


def test_a_restore_reads_only_the_keys_its_providers_hold(ssm, monkeypatch, caplog):
    # GIVEN a container with the OpenAI key in SSM and HF_TOKEN_PARAM naming a parameter that does not exist (the
    # template's default, for an operator without hf/ models), an OpenAI chat model built at INIT
    key_at_init(ssm, monkeypatch, "http://127.0.0.1:9")
    monkeypatch.setenv("HF_TOKEN_PARAM", "/airelay/hf-token-never-made")
    get_settings.cache_clear()
    asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    reads = ssm_reads(monkeypatch)
    snapstart.before_snapshot()
    ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)
    # WHEN an environment is restored and answers two requests
    snapstart.after_restore()
    for _ in range(2):
        model = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    # THEN the restore read the OpenAI key once, the missing token never, and the requests read nothing
    assert reads == [PARAM]
    assert model.client.api_key == "sk-rotated"
    assert "could not be read" not in caplog.text


def test_a_container_of_local_models_reads_no_key_at_a_restore(ssm, monkeypatch, caplog):
    # GIVEN a container whose only provider is a local model, with key parameters named that do not exist
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", "/airelay/openai-key-never-made")
    monkeypatch.setenv("HF_TOKEN_PARAM", "/airelay/hf-token-never-made")
    get_settings.cache_clear()
    state.forget_chat_models()
    asyncio.run(registry.chat_model("local/qwen2.5-0.5b-instruct", get_settings()))
    reads = ssm_reads(monkeypatch)
    # WHEN it is snapshotted, restored and asked for its model twice
    snapstart.before_snapshot()
    snapstart.after_restore()
    for _ in range(2):
        asyncio.run(registry.chat_model("local/qwen2.5-0.5b-instruct", get_settings()))
    # THEN no parameter was read, and nothing is left to read again at every request
    assert reads == []
    assert "could not be read" not in caplog.text


class Unanswering:
    """A TCP server that takes every connection and request and never answers, as a service in a brownout."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        threading.Thread(target=self.take, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def take(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:  # the service answers again: every held connection is reset
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_restore_while_ssm_never_answers_ends_in_time_and_the_next_request_reads_the_key(ssm, monkeypatch, caplog):
    # GIVEN a chat provider built at INIT with its key read from SSM, rotated before a restore
    key_at_init(ssm, monkeypatch, "http://127.0.0.1:9")
    asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    snapstart.before_snapshot()
    ssm.put_parameter(Name=PARAM, Value="sk-rotated", Type="SecureString", Overwrite=True)
    # WHEN the environment is restored while SSM takes requests and never answers: one read is then the SDK's three
    # attempts of 2 s each with backoff between them, and Lambda ends the restore hooks at 10 s
    brownout = Unanswering()
    moto_endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", brownout.url)
    monkeypatch.setattr(snapstart, "RESTORE_WAIT_S", 1.0)  # 7 s on Lambda; the reads here would take 6 s or more
    started = time.monotonic()
    snapstart.after_restore()
    waited = time.monotonic() - started
    # THEN the hook ends when it stops waiting, and says why
    assert waited < 2.0, f"after_restore waited {waited:.1f} s for SSM"
    assert "AWS calls still running" in caplog.text
    # AND once SSM answers again, the read left running fails over (nothing is kept from it) ...
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_endpoint)
    brownout.close()
    for thread in [t for t in threading.enumerate() if t.name == "airelay-restore"]:
        thread.join(timeout=30)
        assert not thread.is_alive()
    aws.reset()  # clients made from the environment as it is now, as Lambda's would have it throughout
    # ... and the first request reads the rotated key for itself
    model = asyncio.run(registry.chat_model("openai/gpt-4o-mini", get_settings()))
    assert model.client.api_key == "sk-rotated"
