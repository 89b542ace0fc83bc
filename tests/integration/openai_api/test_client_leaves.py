"""A client that leaves a /v1 tool-call stream midway, over TCP, closes the upstream and leaves one `cancelled` row (a
client gone before the first byte: test_streams_left_early.py)."""

import json

import httpx
import pytest

from tests.integration.openai_api.conftest import KEY, MESSAGES, SETTLED_S, rows
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
RESPONSES_TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
def test_a_client_that_leaves_a_tool_call_stream_closes_the_upstream_and_is_billed_once(
    start, upstream, tmp_path, path
):
    # GIVEN a slow tool call: 40 argument fragments, 0.2 s apart
    upstream.script(
        Deltas(
            tool_call_deltas(("c1", "lookup", '{"q": "' + "x" * 80 + '"}'), pieces=40),
            chunk_delay_s=0.2,
            finish="tool_calls",
        )
    )
    if path == "/responses":
        body = {"model": "gpt-4o-mini", "input": "Hi", "tools": RESPONSES_TOOLS, "stream": True, "store": False}
        marker = "response.function_call_arguments.delta"
    else:
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "tools": TOOLS, "stream": True}
        marker = '"arguments"'
    seen = 0
    # WHEN the client reads three fragments and leaves
    with httpx.stream(
        "POST", f"{start()}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20
    ) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data:") and marker in line:
                json.loads(line[5:])
                seen += 1
                if seen == 3:
                    break
    # THEN the upstream is closed, long before its 8 s answer would end
    assert upstream.wait_closed(timeout=SETTLED_S)
    # AND the call has one row, cancelled, billing its prompt and what was generated
    [row] = rows(tmp_path)
    assert row.status == "cancelled" and row.prompt_tokens > 0 and row.completion_tokens > 0
