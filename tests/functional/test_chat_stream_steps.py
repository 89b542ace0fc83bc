"""The streamed chat's steps (`POST /api/chat/stream`): one deadline for all its steps and the tools they run, and a
data-usage part that counts every step billed, as the buffered chat (test_chat_buffered_steps.py) does."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from airelay.settings import get_settings
from airelay.tools import catalog
from tests.support.client_tools import USER, chat_function, post
from tests.support.tools import Slow
from tests.support.upstream import Deltas, Ok, SlowFirstByte, tool_call_deltas

from .test_chat_function import sse_parts, usage_rows

__all__ = ["chat_function"]  # the fixture of tests/support/client_tools.py, shared


@pytest.fixture
def deadline_2s(upstream, monkeypatch):
    monkeypatch.setenv("CHAT_TOOLS", "assistant=weather+slow")
    monkeypatch.setenv("TOOLS_MODULE", "tests.support.tools")
    monkeypatch.setenv("STREAM_DEADLINE_S", "2")
    get_settings.cache_clear()
    catalog.available.cache_clear()
    yield upstream
    catalog.available.cache_clear()


def test_a_tool_still_running_at_the_answers_deadline_is_stopped_and_the_answer_ends_in_a_504(
    chat_function, deadline_2s
):
    """GIVEN STREAM_DEADLINE_S=2 and a model that calls `slow` (10 s of work, within its own 30 s timeout_s)
    WHEN the chat streams
    THEN the answer ends at its deadline, about 2 s in, with data-error 504, data-usage, error, and the tool is
    stopped: on AWS the deadline sits under the function's timeout so that the answer's usage is settled first."""
    Slow.cancelled.clear()
    deadline_2s.script(Deltas(tool_call_deltas(("c1", "slow", '{"city": "Jeju"}')), finish="tool_calls"), Ok())
    started = time.monotonic()
    status, body = post(chat_function, {"id": "chat_d", "messages": [USER], "trigger": "submit-message"})
    took = time.monotonic() - started
    assert status == 200, body
    parts = sse_parts(body)
    kinds = [p["type"] for p in parts]
    assert took < 5, f"the answer took {took:.1f} s with a 2 s deadline: {kinds}"
    assert "Jeju" in Slow.cancelled
    assert kinds[-3:] == ["data-error", "data-usage", "error"]
    assert parts[-3]["data"] == {"status": 504, "code": "provider_timeout"}


def test_a_step_cut_by_the_deadline_before_its_first_token_is_in_the_answers_data_usage(chat_function, deadline_2s):
    """GIVEN STREAM_DEADLINE_S=2, a first step that calls `weather`, and a second step whose provider sends nothing
    for 4 s
    WHEN the chat streams
    THEN it ends with data-error 504, data-usage, error; the second step is billed the prompt the provider got, and
    data-usage counts both steps: its inputTokens and costUsd are the sums of the answer's usage rows."""
    deadline_2s.script(
        Deltas(tool_call_deltas(("c1", "weather", '{"city": "Seoul"}')), finish="tool_calls"), SlowFirstByte(4)
    )
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    assert [p["type"] for p in parts][-3:] == ["data-error", "data-usage", "error"]
    assert parts[-3]["data"]["status"] == 504
    usage = parts[-2]["data"]
    rows = [r for r in usage_rows() if r.function == "chat"]
    assert len(rows) == 2 and all(r.cost_usd > 0 for r in rows), rows
    assert usage["steps"] == 2
    assert usage["inputTokens"] == sum(r.prompt_tokens for r in rows), (usage, rows)
    assert Decimal(str(usage["costUsd"])) == sum((r.cost_usd for r in rows), Decimal(0)), (usage, rows)


def test_a_tool_stopped_at_the_answers_deadline_is_settled_in_the_message(chat_function, deadline_2s):
    """GIVEN STREAM_DEADLINE_S=2 and a model that calls `slow` (10 s of work)
    WHEN the answer's deadline stops the tool and the stream ends with data-error 504, data-usage, error
    THEN the stopped call gets its tool-output-error before them (as a tool past its own deadline does), so useChat's
    message holds the call settled (output-error), not forever `input-available` (shown as still running)."""
    Slow.cancelled.clear()
    deadline_2s.script(Deltas(tool_call_deltas(("c1", "slow", '{"city": "Jeju"}')), finish="tool_calls"), Ok())
    status, body = post(chat_function, {"id": "chat_r32", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    parts = sse_parts(body)
    kinds = [p["type"] for p in parts]
    assert kinds[-3:] == ["data-error", "data-usage", "error"], kinds
    called = [p["toolCallId"] for p in parts if p["type"] == "tool-input-available"]
    settled = [p for p in parts if p["type"] in ("tool-output-error", "tool-output-available")]
    assert [p["toolCallId"] for p in settled] == called and len(called) == 1, kinds
