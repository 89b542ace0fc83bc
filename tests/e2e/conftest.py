"""Fixtures for the e2e tier: the local API in its own process against a fake or the real model, and the
example files the README shows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from local import model_server
from tests.support.servers import free_port
from tests.support.upstream import FakeUpstream

from .stack import ROOT, SCREENSHOTS, ApiProcess, require_tools

FAQ_SOURCE = ROOT / "layers" / "core" / "airelay" / "data" / "faq" / "shop_faq.yaml"


@pytest.fixture(scope="session", autouse=True)
def e2e_tools():
    require_tools()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def faq_index(tmp_path_factory) -> str:
    """The example FAQ embedded with the local multilingual encoder, for this test session only."""
    path = tmp_path_factory.mktemp("faq") / "faq-index.bin"
    subprocess.run(
        [sys.executable, "-m", "airelay.faq", "build", str(FAQ_SOURCE), "--to", f"file://{path}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return f"file://{path}"


@pytest.fixture(scope="module")
def fake_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(fake_upstream):
    """The module's fake OpenAI-compatible upstream, with a clean script and counters for this test."""
    fake_upstream.reset()
    yield fake_upstream
    assert not fake_upstream.errors


def fake_model_environment(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "CHAT_MODEL": "openai/gpt-4o-mini",
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-test",
        "UPSTREAM_TIMEOUT_S": "5",
        "STREAM_IDLE_TIMEOUT_S": "2",
        "UPSTREAM_MAX_RETRIES": "0",
        **extra,
    }


@pytest.fixture(scope="module")
def fake_stack(fake_upstream, faq_index, tmp_path_factory):
    """The local API (demo page, every function) with chat answered by the fake upstream: deterministic text,
    scripted faults and timing. Module-scoped: its ledger accumulates over the module's tests."""
    api = ApiProcess(tmp_path_factory.mktemp("api"), **fake_model_environment(fake_upstream, FAQ_INDEX_URL=faq_index))
    yield api.url
    api.stop()


@pytest.fixture(scope="module")
def real_model_stack(faq_index, tmp_path_factory):
    """The local API with chat answered by the real llama.cpp server and SmolLM2-135M (`make model-server`)."""
    port = free_port()
    model = model_server.start(port)
    api = ApiProcess(
        tmp_path_factory.mktemp("api"),
        CHAT_MODEL="local/smollm2-135m",
        LOCAL_MODEL_BASE_URL=f"http://127.0.0.1:{port}/v1",
        FAQ_INDEX_URL=faq_index,
    )
    yield api.url
    api.stop()
    model_server.stop(model)


@pytest.fixture(scope="session")
def coffee_jpeg(tmp_path_factory):
    """A real photo (scikit-image's coffee cup, shipped in its wheel) as a JPEG file."""
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("images") / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=90)
    return path
