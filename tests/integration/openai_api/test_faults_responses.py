"""Faults in the middle of a /v1/responses function-call stream (stall, reset, malformed chunk), a 5xx to a streamed tool
request and a 429 storm on a Responses stream: each ends with an error the SDK raises, never a completed response, and
one usage row (chat completions: test_faults.py)."""

import openai
import pytest

from tests.integration.openai_api.conftest import MESSAGES, rows
from tests.integration.openai_api.test_faults import broken_tool_calls
from tests.support.upstream import Status

CHAT_TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]
RESPONSES_TOOLS = [{"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}]


@broken_tool_calls
def test_a_fault_in_a_responses_function_call_stream_is_raised_never_completed(client, upstream, tmp_path, fault):
    # GIVEN a function call's stream that breaks off after its first argument fragments
    upstream.script(fault)
    events = []
    # WHEN the openai SDK reads it through /v1/responses
    with pytest.raises(openai.APIError) as broken:
        for event in client.responses.create(model="gpt-4o-mini", input="Hi", tools=RESPONSES_TOOLS, stream=True):
            events.append(event)
    # THEN the call's fragments arrived, then the SDK raised the error event; nothing said the answer was done
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    assert not {"response.completed", "response.incomplete", "response.function_call_arguments.done"} & set(kinds)
    assert broken.value.body.get("code") in ("provider_failed", "provider_timeout")
    # AND exactly one usage row, an error, counting what was generated
    [row] = rows(tmp_path)
    assert row.status == "error" and row.completion_tokens > 0


@pytest.mark.upstream_failure
@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_a_5xx_to_a_streamed_tool_request_is_a_typed_error_and_one_row(client, upstream, tmp_path, endpoint):
    upstream.script(Status(503))
    with pytest.raises(openai.InternalServerError):
        if endpoint == "chat":
            list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=CHAT_TOOLS, stream=True))
        else:
            list(client.responses.create(model="gpt-4o-mini", input="Hi", tools=RESPONSES_TOOLS, stream=True))
    assert [r.status for r in rows(tmp_path)] == ["error"]


def test_a_429_storm_on_a_responses_stream_is_a_rate_limit_error_and_one_row(client, upstream, tmp_path):
    upstream.script(*[Status(429, retry_after=3)] * 5)
    with pytest.raises(openai.RateLimitError) as limited:
        list(client.responses.create(model="gpt-4o-mini", input="Hi", tools=RESPONSES_TOOLS, stream=True))
    assert limited.value.response.headers["retry-after"] == "3"
    [row] = rows(tmp_path)
    assert row.status == "error" and row.cost_usd == 0
