"""A server tool's output is what the browser and the model are sent: JSON, or the tool failed."""

from __future__ import annotations

import json

import pytest

from airelay.settings import get_settings
from airelay.tools import catalog
from tests.support.client_tools import chat_function
from tests.support.upstream import Deltas, Ok, tool_call_deltas

from .conftest import load_event

__all__ = ["chat_function"]  # the fixture of tests/support/client_tools.py, shared


@pytest.fixture
def nan_tool(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=score")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


def strict(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_tool_output_that_is_not_json_fails_the_tool_instead_of_breaking_the_stream(chat_function, nan_tool):
    # GIVEN a tool whose output holds NaN, which JSON has no word for (the AI SDK's JSON.parse refuses it)
    nan_tool.script(Deltas(tool_call_deltas(("call_1", "score", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    event = load_event("chat_stream_usechat")
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Score Seoul."}]}
    event["body"] = json.dumps({"id": "chat_1", "messages": [user], "trigger": "submit-message"})
    response = chat_function.invoke(event).result(timeout=30)
    assert response["statusCode"] == 200, response["body"]
    events = [e.removeprefix("data: ") for e in response["body"].split("\n\n") if e]
    for data in events[:-1]:
        strict(data)  # every part the browser gets is JSON
    tool_message = nan_tool.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool"
    strict(tool_message["content"])  # and so is what the model reads
