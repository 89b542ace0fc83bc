"""The buffered chat (`POST /api/chat`) runs the same steps as the stream and answers with all of them as JSON:
each step's text, reasoning, tool calls with their results, and the sources; each step metered on its own."""

from __future__ import annotations

import json
import time

import pytest

from airelay.settings import get_settings
from airelay.tools import catalog
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support.tools import Slow
from tests.support.upstream import Deltas, Ok, Status, tool_call_deltas

from .conftest import load_event
from .test_chat_function import usage_rows


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


@pytest.fixture
def tools(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=weather+explode+pick_color")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


def invoke(container, message: str) -> dict:
    event = load_event("chat_buffered")
    event["body"] = json.dumps({"message": message})
    return container.invoke(event).result(timeout=30)


def ask(container, message: str = "Weather in Seoul and Busan?") -> tuple[int, dict]:
    response = invoke(container, message)
    return response["statusCode"], json.loads(response["body"])


def test_tool_steps_reasoning_and_sources_come_back_as_json(chat_function, tools):
    calls = tool_call_deltas(
        ("call_1", "weather", '{"city": "Seoul"}'), ("call_2", "explode", '{"city": "Busan"}'), pieces=3
    )
    tools.script(Deltas(({"content": "<think>Two cities.</think>"}, *calls), finish="tool_calls"), Ok())
    status, answer = ask(chat_function)
    assert status == 200, answer
    first, second = answer["steps"]
    assert first["reasoning"] == "Two cities." and first["finish_reason"] == "tool-calls"
    weather, explode = (c["id"] for c in first["tool_calls"])  # ids of the server's own, not the upstream's
    assert first["tool_calls"] == [
        {"id": weather, "name": "weather", "input": {"city": "Seoul"}, "output": {"city": "Seoul", "sky": "clear"}},
        {"id": explode, "name": "explode", "input": {"city": "Busan"}, "error": "The tool explode failed."},
    ]
    assert weather != explode and weather.startswith("call_")
    assert second["text"] == answer["response"] == tools.REPLY_TEXT and second["tool_calls"] == []
    assert answer["reasoning"] == "Two cities."
    assert answer["sources"] == [{"id": "wx-Seoul", "title": "Seoul", "media_type": "text/plain"}]
    assert answer["finish_reason"] == "stop"
    # every step metered: the totals are the sum of the steps' usage rows
    rows = usage_rows()
    assert [r.status for r in rows] == ["ok", "ok"]
    assert answer["usage"]["completion_tokens"] == sum(s["usage"]["completion_tokens"] for s in answer["steps"])
    # the model read both results as tool messages, and was offered no client-side tool
    offered = [t["function"]["name"] for t in tools.requests[0]["tools"]]
    assert offered == ["weather", "explode"]
    assert [m["role"] for m in tools.requests[1]["messages"]][-3:] == ["assistant", "tool", "tool"]


def test_the_last_step_allowed_is_offered_no_tool_call(chat_function, tools, monkeypatch):
    # GIVEN CHAT_MAX_STEPS=2 and a model that calls a tool in its first step
    monkeypatch.setenv("CHAT_MAX_STEPS", "2")
    get_settings.cache_clear()
    tools.script(Deltas(tool_call_deltas(("call_1", "weather", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    # WHEN the buffered chat runs its steps
    status, answer = ask(chat_function)
    # THEN the second and last step is asked for text (tool_choice "none"), which ends the answer
    assert status == 200, answer
    assert [r.get("tool_choice") for r in tools.requests] == [None, "none"]
    assert tools.requests[1]["tools"]  # still described, so the conversation's calls read as they were made
    assert answer["finish_reason"] == "stop" and len(answer["steps"]) == 2


@pytest.mark.upstream_failure
def test_steps_and_tools_past_the_deadline_are_a_504_with_the_rows_kept(chat_function, tools, monkeypatch):
    # GIVEN a 1 s deadline for the whole answer, and a model that calls a tool taking 10 s
    monkeypatch.setenv("STREAM_DEADLINE_S", "1")
    monkeypatch.setenv("CHAT_TOOLS", "assistant=slow")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    Slow.cancelled.clear()
    tools.script(Deltas(tool_call_deltas(("call_1", "slow", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    # WHEN the buffered chat runs its steps
    started = time.monotonic()
    status, answer = ask(chat_function)
    # THEN the answer is a 504 at the deadline, the tool stopped, the first step's row kept, no second call made
    assert status == 504 and answer["error"]["code"] == "provider_timeout", answer
    assert time.monotonic() - started < 5
    assert Slow.cancelled == ["Seoul"]
    assert [r.status for r in usage_rows()] == ["ok"] and len(tools.requests) == 1


@pytest.mark.upstream_failure
def test_a_failure_in_step_two_is_the_http_error_and_step_ones_row_is_kept(chat_function, tools):
    tools.script(Deltas(tool_call_deltas(("call_1", "weather", '{"city": "Seoul"}')), finish="tool_calls"), Status(503))
    status, answer = ask(chat_function)
    assert status == 503 and answer["error"]["code"] == "provider_unavailable"
    assert sorted(r.status for r in usage_rows()) == ["error", "ok"]


def test_without_tools_the_answer_is_one_step(chat_function, upstream):
    status, answer = ask(chat_function, "Say hello.")
    assert status == 200
    (step,) = answer["steps"]
    assert step["text"] == answer["response"] == upstream.REPLY_TEXT
    assert answer["sources"] == [] and answer["reasoning"] == ""


def test_a_budget_reached_between_steps_is_a_429_and_step_ones_row_is_kept(chat_function, tools, monkeypatch):
    # GIVEN a caller's budget that holds step 1 but not step 2, whose prompt carries a 15 kB tool output
    monkeypatch.setenv("CHAT_TOOLS", "assistant=big")
    monkeypatch.setenv("IDENTITY_DAILY_BUDGET_USD", "0.001")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    tools.script(Deltas(tool_call_deltas(("call_1", "big", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    # WHEN the buffered chat runs its steps
    response = invoke(chat_function, "Weather in Seoul?")
    answer = json.loads(response["body"])
    # THEN the answer is the 429 a budget gives, step 2 never reached the model, and step 1's row is kept
    assert response["statusCode"] == 429, answer
    assert int(response["headers"]["retry-after"]) > 0
    assert answer["error"]["code"] == "budget_exceeded"
    assert len(tools.requests) == 1
    rows = usage_rows()
    assert [r.status for r in rows] == ["ok"]
    assert rows[0].cost_usd > 0
