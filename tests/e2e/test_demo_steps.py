"""The demo page shows an answer's steps: the model's reasoning and each tool call (its name, input and output),
collapsed until opened, and the sources the tools' answers came from. Headless Chromium, the fake upstream scripted
with reasoning and a tool call, and the test tools (tests/support/tools.py) offered to the page's default persona."""

from __future__ import annotations

import json

import pytest

from tests.support.upstream import Deltas, FakeUpstream, Ok, tool_call_deltas

from .conftest import fake_model_environment
from .stack import ApiProcess, run_node


@pytest.fixture(scope="module")
def steps_stack(fake_upstream, tmp_path_factory):
    env = fake_model_environment(fake_upstream, CHAT_TOOLS="assistant=weather", TOOLS_MODULE="tests.support.tools")
    api = ApiProcess(tmp_path_factory.mktemp("steps-api"), **env)
    yield api.url
    api.stop()


def test_reasoning_tool_calls_and_sources_are_shown_collapsed(steps_stack, upstream):
    call = tool_call_deltas(("call_wx", "weather", '{"city": "Seoul"}'), pieces=3)
    upstream.script(Deltas(({"reasoning_content": "The user wants the weather."}, *call), finish="tool_calls"), Ok())
    seen = run_node(
        ["tests/e2e/browser/demo.mjs", "chat-steps"],
        env={"BASE_URL": steps_stack, "EXPECTED_TEXT": FakeUpstream.REPLY_TEXT},
    )
    assert seen["tool"] == "Tool: weather" and seen["toolState"] == "done"
    assert seen["toolOpen"] is False and seen["reasoningOpen"] is False
    assert json.loads(seen["input"].removeprefix("input: ")) == {"city": "Seoul"}
    assert json.loads(seen["output"].removeprefix("output: ")) == {"city": "Seoul", "sky": "clear"}
    assert seen["reasoning"] == "The user wants the weather."
    assert seen["sources"] == ["Seoul"]


def test_an_answer_in_two_steps_shows_its_parts_in_order_and_keeps_the_texts_apart_in_history(steps_stack, upstream):
    """Text, the tool call, then the next step's text, each apart and in the order sent (as useChat renders the
    parts); the follow-up carries the answer with a blank line between the two steps' texts, not glued together."""
    call = tool_call_deltas(("call_wx", "weather", '{"city": "Seoul"}'))
    upstream.script(
        Deltas(({"content": "Let me check the weather."}, *call), finish="tool_calls"),
        Deltas(({"content": "It is clear in Seoul."},)),
        Ok(),
    )
    seen = run_node(["tests/e2e/browser/demo.mjs", "chat-two-steps"], env={"BASE_URL": steps_stack})
    assert seen["parts"] == ["Let me check the weather.", "Tool: weather", "It is clear in Seoul."]
    assert "weather.It is" not in seen["shown"]
    history = upstream.requests[-1]["messages"]
    assert history[-2:] == [
        {"role": "assistant", "content": "Let me check the weather.\n\nIt is clear in Seoul."},
        {"role": "user", "content": "And tomorrow?"},
    ]
