"""A server tool's output is what the browser and the model are sent: JSON, or the tool failed."""

from __future__ import annotations

import json

import pytest

from airelay.settings import get_settings
from airelay.steps import TOOL_OUTPUT_MAX_CHARS
from airelay.tools import catalog
from tests.support.client_tools import USER, assistant_message, chat_function, post
from tests.support.upstream import Deltas, Ok, tool_call_deltas

from .conftest import load_event
from .test_chat_function import sse_parts

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


@pytest.fixture
def vast_tool(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=vast")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


def test_a_large_tool_output_reaches_the_browser_cut_as_the_model_reads_it_and_the_chat_goes_on(
    chat_function, vast_tool
):
    """GIVEN a server tool that answers with 300 000 characters
    WHEN the model calls it, and the user then sends the next message, useChat posting the whole conversation with the
    tool part it kept
    THEN the browser was sent the output's JSON's first TOOL_OUTPUT_MAX_CHARS characters marked as cut, the model read
    that (as JSON, at most TOOL_OUTPUT_MAX_CHARS characters), and the next message is answered (200): the
    conversation stays under the body limit."""
    vast_tool.script(Deltas(tool_call_deltas(("c1", "vast", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    (output,) = [p["output"] for p in parts if p["type"] == "tool-output-available"]
    read = vast_tool.requests[-1]["messages"][-1]["content"]
    assert output["truncated"] is True and len(output["text"]) == TOOL_OUTPUT_MAX_CHARS
    assert read == json.dumps(output, ensure_ascii=False)[:TOOL_OUTPUT_MAX_CHARS]
    answer = assistant_message(parts, {})
    answer["parts"].append({"type": "text", "text": "".join(p["delta"] for p in parts if p["type"] == "text-delta")})
    vast_tool.script(Ok())
    follow_up = {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "Thanks! And tomorrow?"}]}
    status, body = post(
        chat_function, {"id": "chat_1", "messages": [USER, answer, follow_up], "trigger": "submit-message"}
    )
    assert status == 200, body
