"""The real @ai-sdk/openai-compatible and @ai-sdk/openai (generateText, streamText with tools, generateObject; chat
completions and responses) against the local API, each given nothing but the base URL and a key (ai_sdk.mjs)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.openai_api.conftest import KEY
from tests.support.aisdk import AISDK, installed, node_of
from tests.support.upstream import Ok
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

SCRIPT = Path(__file__).with_name("ai_sdk.mjs")
ROOT = Path(__file__).resolve().parents[3]
PROVIDERS = ["compatible", "responses", "chat"]


@pytest.fixture(autouse=True, params=["ai5", "ai7"])
def sdk(request, monkeypatch) -> str:
    """Every test with the repository's ai 5 (@ai-sdk/openai 2) and with ai 7 (@ai-sdk/openai 4, what `npm install ai`
    gives), from its own project (ai_sdk.mjs reads SDK_PROJECT)."""
    if request.param == "ai7":
        monkeypatch.setenv("SDK_PROJECT", str(AISDK / installed("ai7")))
    return request.param


def run(base_url: str, scenario: str, provider: str, **environment: str) -> dict:
    node = node_of("ai7") if os.environ.get("SDK_PROJECT") else "node"
    result = subprocess.run(
        [node, str(SCRIPT), scenario, provider],
        cwd=ROOT,
        env={**os.environ, "BASE_URL": base_url, "API_KEY": KEY, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generate_text(start, upstream, provider):
    seen = run(start(), "generateText", provider)
    assert seen["text"] == upstream.REPLY_TEXT and seen["finishReason"] == "stop"
    assert seen["usage"]["outputTokens"] == 20


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_text(start, upstream, provider):
    seen = run(start(), "streamText", provider)
    assert seen["text"] == upstream.REPLY_TEXT and seen["finishReason"] == "stop"
    assert seen["usage"]["outputTokens"] == 20


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_text_with_tools(start, upstream, provider):
    upstream.script(
        Deltas(tool_call_deltas(("call_7", "get_weather", '{"city": "Seoul"}'), pieces=3), finish="tool_calls")
    )
    seen = run(start(), "streamTools", provider)
    assert [(c["name"], c["input"]) for c in seen["calls"]] == [("get_weather", {"city": "Seoul"})]
    assert seen["calls"][0]["id"].startswith("call_")  # the relay's own id, not the upstream's "call_7"
    assert seen["deltas"] >= 3 and seen["finishReason"] == "tool-calls" and seen["errors"] == 0
    assert upstream.requests[-1]["tools"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generate_object(start, upstream, provider):
    upstream.script(Ok(tokens=('{"name": "Seoul", ', '"population": 9400000}')))
    seen = run(start(), "generateObject", provider)
    assert seen["object"] == {"name": "Seoul", "population": 9400000}
    assert upstream.requests[-1]["response_format"]["type"] in ("json_object", "json_schema")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tool_call_stream_cut_midway_is_an_error_the_sdk_reports(start, upstream, provider):
    deltas = tool_call_deltas(("call_1", "get_weather", '{"city": "Seoul, the capital"}'), pieces=6)[:3]
    upstream.script(Deltas(deltas, finish="tool_calls", fault="reset"))
    seen = run(start(), "streamError", provider)
    # (the chat-completions providers still hand over the half-written call they hold, beside the error)
    assert any("stream broke off" in error for error in seen["errors"]), seen
    assert seen["finishReason"] not in ("stop", "tool-calls"), seen


WEATHER_CALL = tool_call_deltas(("call_1", "get_weather", '{"city": "Seoul"}'), pieces=2)


def test_a_tool_loop_through_openai_compatible_sends_the_reasoning_back_and_finishes(start, upstream):
    # GIVEN a model that reasons, then calls a tool, and answers after the tool's result
    upstream.script(Deltas(({"reasoning_content": "I should look it up."}, *WEATHER_CALL), finish="tool_calls"), "ok")
    # WHEN the AI SDK runs its tool loop: its second request has the first step's reasoning as `reasoning_content`
    seen = run(start(), "toolLoop", "compatible")
    # THEN both steps are answered, and the reasoning is not relayed to the model
    assert seen == {"text": upstream.REPLY_TEXT, "errors": [], "steps": 2}
    assistant = [m for m in upstream.requests[-1]["messages"] if m["role"] == "assistant"]
    assert [m["tool_calls"][0]["function"]["name"] for m in assistant] == ["get_weather"]
    assert not any("reasoning_content" in m or "reasoning" in m for m in assistant)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-mini"])
def test_a_stateless_tool_loop_through_openai_responses_finishes(start, upstream, model):
    # GIVEN providerOptions.openai.store false (docs/openai.md); for a reasoning model the AI SDK then also asks for
    # include: ["reasoning.encrypted_content"]
    upstream.script(Deltas(WEATHER_CALL, finish="tool_calls"), "ok")
    # WHEN the AI SDK runs its tool loop through /v1/responses
    seen = run(start(CHAT_MODEL=f"openai/{model}"), "toolLoop", "responses", MODEL=model, STORE="false")
    # THEN both steps are answered, the second with the call and its output sent back
    assert seen == {"text": upstream.REPLY_TEXT, "errors": [], "steps": 2}
    assert [m["role"] for m in upstream.requests[-1]["messages"]] == ["user", "assistant", "tool"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-5-mini"])
def test_a_tool_loop_through_openai_responses_as_it_is_finishes_by_reference(start, upstream, model):
    # GIVEN @ai-sdk/openai as it is (store defaults to true): its second step refers to the first step's function
    # call by id ({"type": "item_reference"})
    upstream.script(Deltas(WEATHER_CALL, finish="tool_calls"), "ok")
    # WHEN it runs its tool loop
    seen = run(start(CHAT_MODEL=f"openai/{model}"), "toolLoop", "responses", MODEL=model)
    # THEN the kept call is read back: both steps are answered, the second with the call and its output
    assert seen == {"text": upstream.REPLY_TEXT, "errors": [], "steps": 2}
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
