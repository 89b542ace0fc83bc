"""/v1/responses answers against what OpenAI's SDK models and the AI SDK's @ai-sdk/openai expect: an answer the
content filter stopped is incomplete (reason content_filter), the usage has every field the SDK's model requires, and
items cut by max_output_tokens are incomplete. Each docstring names the client code or model it is measured
against."""

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from openai.types.responses import Response, ResponseCompletedEvent

from tests.integration.openai_api.conftest import KEY
from tests.support.aisdk import AISDK, node_of
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

SCRIPT = Path(__file__).with_name("ai_sdk_parts.mjs")
ROOT = Path(__file__).resolve().parents[2]
TOOLS = [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}]


def events_of(base: str, body: dict) -> list[dict]:
    """The data of each server-sent event of a streamed /v1/responses answer."""
    found = []
    with httpx.stream(
        "POST",
        f"{base}/responses",
        json={**body, "stream": True},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    ) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line.startswith("data:"):
                found.append(json.loads(line[5:]))
    return found


def buffered(base: str, body: dict) -> dict:
    answer = httpx.post(f"{base}/responses", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20)
    assert answer.status_code == 200
    return answer.json()


# --- content filter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_an_answer_stopped_by_the_content_filter_is_incomplete_with_reason_content_filter(start, upstream, stream):
    """OpenAI ends a filtered answer with status "incomplete" and incomplete_details.reason "content_filter"
    (openai/types/responses/response.py IncompleteDetails.reason: "max_output_tokens" | "content_filter"; the stream
    ends with response.incomplete). airelay maps the provider's finish_reason content_filter to "content_filter" on
    /v1/chat/completions (chunks.py FINISH_REASONS) but responses.py finished() only knows "length": the answer says
    status "completed", incomplete_details null, as if the model had finished."""
    base = start()
    upstream.script(Deltas(({"content": "Some"}, {"content": " text"}), finish="content_filter"))
    body = {"model": "gpt-4o-mini", "input": "hi"}
    if stream:
        last = events_of(base, body)[-1]
        assert last["type"] == "response.incomplete", last["type"]
        answer = last["response"]
    else:
        answer = buffered(base, body)
    assert (answer["status"], answer["incomplete_details"]) == ("incomplete", {"reason": "content_filter"})


def test_the_ai_sdk_reports_a_filtered_responses_answer_as_content_filter(start, upstream):
    """@ai-sdk/openai 4 (tests/e2e/aisdk/ai7, dist/index.js mapOpenAIResponseFinishReason) takes the finish reason
    from response.incomplete_details.reason: null with no function call is "stop". The same upstream answer through
    /v1/chat/completions is "content-filter" in the AI SDK (finish_reason content_filter); through /v1/responses the
    agent is told the model stopped normally."""
    base = start()
    upstream.script(Deltas(({"content": "Some"}, {"content": " text"}), finish="content_filter"))
    environment = {**os.environ, "BASE_URL": base, "API_KEY": KEY, "SDK_PROJECT": str(AISDK / "ai7")}
    result = subprocess.run(
        [node_of("ai7"), str(SCRIPT), "stream", "responses"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    parts = json.loads(result.stdout.splitlines()[-1])
    [finish] = [p for p in parts if p["type"] == "finish"]
    assert finish["finishReason"] == "content-filter"


# --- usage ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_the_usage_has_every_field_the_sdk_model_requires(start, upstream, stream):
    """openai 3.51 (openai/types/responses/response_usage.py) declares InputTokensDetails.cache_write_tokens: int, a
    required field like cached_tokens. responses.py usage_body() writes only {"cached_tokens": ...}, so the answer
    does not validate as the SDK's Response (buffered) or ResponseCompletedEvent (streamed), and a typed client reads
    None for an int."""
    base = start()
    upstream.script(Deltas(({"content": "Hello"},)))
    body = {"model": "gpt-4o-mini", "input": "hi"}
    if stream:
        ResponseCompletedEvent.model_validate(events_of(base, body)[-1])
    else:
        Response.model_validate(buffered(base, body))


# --- items cut by max_output_tokens ---------------------------------------------------------------------------------

CUT = {
    "text": Deltas(({"content": "The answer is"},), finish="length"),
    "tool call": Deltas(
        tool_call_deltas(
            ("c1", "f", '{"a":'),
        ),
        finish="length",
    ),
}


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("cut", list(CUT))
def test_an_item_cut_by_max_output_tokens_is_not_completed(start, upstream, cut, stream):
    """An output item the token limit cut has status "incomplete" in OpenAI's API (ResponseOutputMessage.status and
    ResponseFunctionToolCall.status: "in_progress" | "completed" | "incomplete"); airelay marks the item "completed"
    (events.py close_message / close_items, responses.py message_item / call_item) while the response says
    "incomplete": a client that runs completed function calls runs one with arguments cut mid-JSON ('{"a":'), and
    the item is kept (store) as a completed one for item_reference."""
    base = start()
    upstream.script(CUT[cut])
    body = {"model": "gpt-4o-mini", "input": "hi", "tools": TOOLS, "max_output_tokens": 16}
    if stream:
        events = events_of(base, body)
        answer = events[-1]["response"]
        done = [e["item"]["status"] for e in events if e["type"] == "response.output_item.done"]
    else:
        answer = buffered(base, body)
        done = []
    assert answer["status"] == "incomplete"
    assert [item["status"] for item in answer["output"]] == ["incomplete"]
    assert done in ([], ["incomplete"])
