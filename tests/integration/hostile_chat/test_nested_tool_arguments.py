"""A model's tool call whose arguments nest past Python's recursion limit and hold a backslash: the first step answers
it with a tool-input error the model reads, and the next step's request to a self-hosted server (whose arguments are
neutralised of control tokens, control_tokens.neutralised_arguments) is built all the same: no 500, and a stream ends
with its finish or an error part."""

import json

import httpx
import pytest

from airelay.settings import get_settings
from airelay.tools import catalog
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.support.upstream import Deltas, FakeUpstream, Ok, tool_call_deltas

# ~3 KB of model output (a few hundred tokens): nested past the recursion limit, with a backslash (an escape)
ARGUMENTS = "[" * 3000 + "\\"


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


@pytest.fixture
def weather(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=weather")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


def test_a_buffered_chat_whose_tool_arguments_nest_deeply_is_not_a_500(chat_function, weather):
    # GIVEN a self-hosted upstream (127.0.0.1) whose model calls `weather` with deeply nested arguments, then answers
    weather.script(Deltas(tool_call_deltas(("call_1", "weather", ARGUMENTS), pieces=3), finish="tool_calls"), Ok())
    event = load_event("chat_buffered")
    event["body"] = json.dumps({"message": "What is the weather?"})
    # WHEN the buffered chat runs its steps
    response = chat_function.invoke(event).result(timeout=30)
    # THEN the bad call is an input error the model reads in its next step, never "something went wrong on our side"
    error = json.loads(response["body"]).get("error") or {}
    assert response["statusCode"] != 500 and error.get("code") != "internal_error", response["body"][:300]


def test_a_stream_whose_tool_arguments_nest_deeply_ends_with_a_finish_or_an_error_part(local_api):
    with FakeUpstream() as upstream:
        api = local_api(
            CHAT_MODEL="openai/gpt-4o-mini",
            OPENAI_BASE_URL=upstream.base_url,
            OPENAI_API_KEY="sk-test",
            UPSTREAM_MAX_RETRIES=0,
            CHAT_TOOLS="assistant=weather",
            TOOLS_MODULE="tests.support.tools",
        )
        catalog.available.cache_clear()
        upstream.script(Deltas(tool_call_deltas(("call_1", "weather", ARGUMENTS), pieces=3), finish="tool_calls"), Ok())
        # WHEN the answer streams through the local API (uvicorn, as under the Web Adapter)
        lines, cut = [], None
        try:
            with httpx.stream("POST", f"{api}/api/chat/stream", json={"message": "Weather?"}, timeout=20) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        lines.append(line)
        except httpx.HTTPError as exc:
            cut = type(exc).__name__
        catalog.available.cache_clear()
    # THEN the stream ends as the UI message stream promises: a finish or an error part, then [DONE]; never cut
    types = [json.loads(line[6:]).get("type") for line in lines if line != "data: [DONE]"]
    assert cut is None and lines and lines[-1] == "data: [DONE]", f"stream cut ({cut}) after {types[-4:]}"
    assert types[-1] in ("finish", "error"), types[-4:]
