"""A server tool's run as the stream shows it: its output as JSON with text keys, and its own deadline, which holds
even when the tool blocks a worker thread."""

from __future__ import annotations

import time

from tests.support.client_tools import USER, chat_function, offer, post
from tests.support.upstream import Deltas, Ok, tool_call_deltas

from .test_chat_function import sse_parts

__all__ = ["chat_function", "offer"]  # the fixtures of tests/support/client_tools.py, shared


def test_a_tool_output_with_number_and_text_keys_reaches_the_browser_with_text_keys(chat_function, offer):
    """GIVEN a tool whose output is the dict {2024: 3, "total": 3}
    WHEN the model calls it in a streamed chat
    THEN the browser gets it as JSON writes it, every key a string, and the stream goes on to `finish` and [DONE]."""
    upstream = offer("tally")
    upstream.script(Deltas(tool_call_deltas(("c1", "tally", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    assert status == 200, body
    assert body.rstrip().endswith("data: [DONE]"), body[-600:]
    parts = sse_parts(body)
    (output,) = [p["output"] for p in parts if p["type"] == "tool-output-available"]
    assert output == {"2024": 3, "total": 3}
    assert parts[-1]["type"] == "finish"


def test_a_tool_blocked_in_a_worker_thread_fails_at_its_own_deadline(chat_function, offer):
    """GIVEN a tool with timeout_s=0.5 whose run waits 4 s on a blocking call in a worker thread
    (anyio.to_thread.run_sync, the way a tool uses requests or boto3), which cancellation cannot interrupt
    WHEN the model calls it
    THEN it is a tool-output-error at about its deadline (0.5 s, and at most tools.base.CLEANUP_S more), its late
    result is dropped, and the answer goes on to `finish`."""
    upstream = offer("blocking")
    upstream.script(Ok())
    post(chat_function, {"id": "chat_0", "messages": [USER], "trigger": "submit-message"})  # a warm container
    upstream.script(Deltas(tool_call_deltas(("c1", "blocking", '{"city": "Seoul"}')), finish="tool_calls"), Ok())
    started = time.monotonic()
    status, body = post(chat_function, {"id": "chat_1", "messages": [USER], "trigger": "submit-message"})
    took = time.monotonic() - started
    assert status == 200, body
    kinds = [p["type"] for p in sse_parts(body)]
    assert took < 2.5, f"the tool's 0.5 s deadline did not hold: the answer took {took:.1f} s; {kinds}"
    assert "tool-output-error" in kinds and "tool-output-available" not in kinds and kinds[-1] == "finish"
