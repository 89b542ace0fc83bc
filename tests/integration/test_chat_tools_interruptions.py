"""Server-side tools and steps through the local API, the fault-injecting upstream scripted with tool calls, when
something ends the steps early: the upstream failing in step 2, the client leaving while a tool runs, the caller's
budget reached between steps, the one deadline for all steps. Each case ends in a defined part sequence
(docs/tools.md), and the real `ai` package accepts every one of them (checked at the end of
test_chat_tools_sequences.py, from the bodies recorded here)."""

import time

import httpx

from tests.support.chat_tools import (
    ANSWER,
    BODY,
    REQUEST_IDS,
    WEATHER,
    api,
    chat,
    clean,
    types,
    upstream,
    upstream_settings,
)
from tests.support.tools import Slow
from tests.support.upstream import Deltas, Ok, ResetMidStream, tool_call_deltas

from .test_chat_faults import rows_when_settled

__all__ = ["api", "clean", "upstream"]  # the fixtures of tests/support/chat_tools.py, shared


def test_upstream_failure_in_step_2_is_an_error_part_and_every_row_is_kept(api, upstream, module_local_api):
    upstream.script(
        Deltas(tool_call_deltas(("c1", "weather", WEATHER)), finish="tool_calls"), ResetMidStream(after_chunks=3)
    )
    parts = chat(api, "step-2-failure")
    names = types(parts)
    assert "finish" not in names and names[-4:] == ["data-error", "data-usage", "error", "[DONE]"]
    assert names.count("finish-step") == 1  # step 1 finished; step 2 broke off
    assert parts[-4]["data"]["status"] == 502
    rows = rows_of(usage_db(module_local_api), REQUEST_IDS["step-2-failure"], 2)
    assert sorted(r.status for r in rows) == ["error", "ok"]


def test_stop_during_a_tool_cancels_it_and_keeps_the_steps_row(api, upstream, module_local_api):
    # GIVEN a model that calls a tool that takes seconds
    upstream.script(Deltas(tool_call_deltas(("c1", "slow", '{"city": "Jeju"}')), finish="tool_calls"), ANSWER)
    # WHEN the client leaves while the tool runs
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=30) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if '"tool-input-available"' in line:
                break
    # THEN the tool is cancelled, no next step is asked for, and step 1's row is kept
    deadline = time.monotonic() + 10
    while "Jeju" not in Slow.cancelled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "Jeju" in Slow.cancelled
    assert [r.status for r in rows_of(usage_db(module_local_api), request_id, 1)] == ["ok"]
    # AND no second step follows (it would be asked for as soon as the tool ended): polled, failing at the first one
    deadline = time.monotonic() + 2
    while len(upstream.requests) == 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(upstream.requests) == 1


def rows_of(db, request_id: str, count: int) -> list:
    deadline = time.monotonic() + 10
    while True:
        rows = [r for r in rows_when_settled(db, 0) if r.request_id == request_id]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def usage_db(module_local_api):
    return module_local_api.__self__.usage_db


def test_a_budget_reached_between_steps_ends_with_an_error_part_meaning_429(local_api, upstream, tmp_path):
    # GIVEN a caller's budget that holds step 1 but not step 2, whose prompt carries a 15 kB tool output
    db = tmp_path / "budget.sqlite3"
    api = local_api(
        **upstream_settings(upstream),
        TOOLS_MODULE="tests.support.tools",
        CHAT_TOOLS="assistant=big",
        IDENTITY_DAILY_BUDGET_USD="0.001",
        USAGE_DB_PATH=str(db),
    )
    upstream.script(Deltas(tool_call_deltas(("c1", "big", WEATHER)), finish="tool_calls"), ANSWER)
    parts = chat(api, "budget-between-steps", {**BODY, "max_tokens": 200})
    names = types(parts)
    assert "finish" not in names and names[-4:] == ["data-error", "data-usage", "error", "[DONE]"]
    assert parts[-4]["data"]["status"] == 429 and parts[-4]["data"]["code"] == "budget_exceeded"
    assert parts[-4]["data"]["retryAfter"] > 0
    assert names.count("tool-output-available") == 1 and names.count("finish-step") == 1
    assert len(upstream.requests) == 1  # step 2 never reached the model
    rows = rows_when_settled(db, 1)
    assert [r.status for r in rows] == ["ok"] and parts[-3]["data"]["steps"] == 1


def test_one_deadline_holds_for_all_steps(local_api, upstream, tmp_path):
    # GIVEN a 2 s deadline, a first step that takes 1.5 s and a second that would take 1 s more
    api = local_api(
        **upstream_settings(upstream),
        TOOLS_MODULE="tests.support.tools",
        CHAT_TOOLS="assistant=weather",
        STREAM_DEADLINE_S=2,
        USAGE_DB_PATH=str(tmp_path / "usage.sqlite3"),
    )
    first = Deltas(tool_call_deltas(("c1", "weather", WEATHER)), finish="tool_calls", after_s=1.5)
    upstream.script(first, Ok(chunks=5, chunk_delay_s=0.2))
    # WHEN the chat streams
    parts = chat(api, "deadline-across-steps")
    # THEN the answer ends at the deadline, as a timeout, not at the second step's own 2 s
    names = types(parts)
    assert "finish" not in names and names[-4:] == ["data-error", "data-usage", "error", "[DONE]"]
    assert parts[-4]["data"] == {"status": 504, "code": "provider_timeout"}
    assert names.count("tool-output-available") == 1
