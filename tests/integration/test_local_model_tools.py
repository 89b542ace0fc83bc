"""The real local model (SmolLM2-135M in llama.cpp's server, `chatml-function-calling` format) calling a real tool:
search_faq over the example FAQ index, embedded by the real local embedder."""

import asyncio
import json

import httpx
import pytest

from airelay import relay_stream, steps
from airelay.providers.base import ChatRequest
from airelay.providers.registry import chat_model
from airelay.settings import get_settings
from airelay.streaming import UIMessageStream
from airelay.tools.base import ToolContext
from airelay.tools.catalog import tools_for
from airelay.usage import Caller
from local import model_server
from tests.support.servers import free_port

from .conftest import forget_cached_state


@pytest.fixture(scope="module")
def model_url():
    port = free_port()
    process = model_server.start(port, chat_format="chatml-function-calling")
    yield f"http://127.0.0.1:{port}/v1"
    model_server.stop(process)


def run_steps(request: ChatRequest, tools: dict, settings, request_id: str) -> bytes:
    """The chat function's steps over the local model: its UI message stream, whole."""
    caller = Caller(request_id, "test", "chat")

    async def run() -> bytes:
        model = await chat_model("local/smollm2-135m", settings)
        stream = await relay_stream.open_stream(model, request, settings, caller)
        context = ToolContext(settings, caller)
        return b"".join([chunk async for chunk in steps.ui_message_stream(stream, tools, context, UIMessageStream())])

    return asyncio.run(run())


def test_the_local_model_calls_search_faq_and_answers_from_its_result(
    model_url, example_faq_index, monkeypatch, tmp_path
):
    # GIVEN the local model, offered search_faq (forced in the first step, as a client may ask)
    for name, value in {
        "CHAT_MODEL": "local/smollm2-135m",
        "LOCAL_MODEL_BASE_URL": model_url,
        "FAQ_INDEX_URL": f"file://{example_faq_index}",
        "CHAT_TOOLS": "assistant=search_faq",
        "USAGE_DB_PATH": str(tmp_path / "usage.sqlite3"),
        # the function-calling format's prompt is long: on a shared 2-core box its first token can take a while
        "UPSTREAM_TIMEOUT_S": "180",
        "STREAM_IDLE_TIMEOUT_S": "180",
    }.items():
        monkeypatch.setenv(name, value)
    forget_cached_state()
    settings = get_settings()
    tools = tools_for("assistant", settings)
    request = ChatRequest(
        [{"role": "system", "content": "Use the FAQ."}, {"role": "user", "content": "How do I get a refund?"}],
        max_tokens=48,
        temperature=0,
        tools=tuple(t.spec() for t in tools.values()),
        tool_choice="search_faq",
    )

    # WHEN the chat runs its steps
    body = run_steps(request, tools, settings, "req-local-tools")
    parts = [json.loads(e[6:]) for e in body.decode().split("\n\n") if e.startswith("data: {")]
    names = [p["type"] for p in parts]
    # THEN the model's call was valid (the format constrains it), the tool ran on the real index, sources were sent,
    # and the second step answered in text
    available = next(p for p in parts if p["type"] == "tool-input-available")
    assert available["toolName"] == "search_faq" and isinstance(available["input"]["query"], str)
    output = next(p for p in parts if p["type"] == "tool-output-available")["output"]
    assert len(output["matches"]) >= 1 and all(m["answer"] for m in output["matches"])
    assert "source-document" in names
    assert names.count("start-step") == 2 and names[-1] == "finish"
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta").strip()
    assert parts[-1]["messageMetadata"]["steps"] == 2
    forget_cached_state()


def test_the_local_model_is_offered_a_tool_whose_schema_has_a_2000_character_bound(model_url, monkeypatch, tmp_path):
    # GIVEN analyze_sentiment, whose input schema says `maxLength: 2000` (a grammar llama-cpp-python cannot build)
    for name, value in {
        "CHAT_MODEL": "local/smollm2-135m",
        "LOCAL_MODEL_BASE_URL": model_url,
        "CHAT_TOOLS": "assistant=analyze_sentiment",
        "CHAT_MAX_STEPS": "1",
        "USAGE_DB_PATH": str(tmp_path / "usage.sqlite3"),
        "UPSTREAM_TIMEOUT_S": "180",
        "STREAM_IDLE_TIMEOUT_S": "180",
    }.items():
        monkeypatch.setenv(name, value)
    forget_cached_state()
    settings = get_settings()
    tools = tools_for("assistant", settings)
    assert tools["analyze_sentiment"].spec().parameters["properties"]["text"]["maxLength"] == 2000
    request = ChatRequest(
        [{"role": "user", "content": "How does this review sound: 'Great service, fast refund.'"}],
        max_tokens=48,
        temperature=0,
        tools=tuple(t.spec() for t in tools.values()),
        tool_choice="analyze_sentiment",
    )

    # WHEN the local model is asked to call it
    parts = [
        json.loads(e[6:])
        for e in run_steps(request, tools, settings, "req-local-bounds").decode().split("\n\n")
        if e.startswith("data: {")
    ]
    # THEN the server compiled the schema and the model's call was checked against the full input model: it ran,
    # or (a call the grammar allowed but the bound refuses) it is a tool-input-error; the answer ends either way
    names = [p["type"] for p in parts]
    assert names[-1] == "finish", names
    call = next(p for p in parts if p["type"] in ("tool-input-available", "tool-input-error"))
    assert call["toolName"] == "analyze_sentiment"
    if call["type"] == "tool-input-available":
        assert 1 <= len(call["input"]["text"]) <= 2000
        assert next(p for p in parts if p["type"] == "tool-output-available")["output"]["sentiment"]
    # AND the server is still up
    assert httpx.get(f"{model_url}/models", timeout=10).status_code == 200
    forget_cached_state()
