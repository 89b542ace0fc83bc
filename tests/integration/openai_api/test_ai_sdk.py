"""The real @ai-sdk/openai-compatible and @ai-sdk/openai (generateText, streamText with tools, generateObject; chat
completions and responses) against the local API, each given nothing but the base URL and a key (ai_sdk.mjs)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.openai_api.conftest import KEY
from tests.support.upstream import Ok
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

SCRIPT = Path(__file__).with_name("ai_sdk.mjs")
ROOT = Path(__file__).resolve().parents[3]
PROVIDERS = ["compatible", "responses", "chat"]


def run(base_url: str, scenario: str, provider: str) -> dict:
    result = subprocess.run(
        ["node", str(SCRIPT), scenario, provider],
        cwd=ROOT,
        env={**os.environ, "BASE_URL": base_url, "API_KEY": KEY},
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
    assert seen["calls"] == [{"id": "call_7", "name": "get_weather", "input": {"city": "Seoul"}}]
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
