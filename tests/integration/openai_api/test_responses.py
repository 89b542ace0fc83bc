"""The real `openai` SDK's Responses API against the local API's /v1/responses (items kept by id: test_stored_items)."""

import asyncio
import json

import openai
import pytest
from pydantic import BaseModel

from tests.integration.openai_api.conftest import KEY, rows
from tests.support.upstream import Ok
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def test_buffered_response_from_text_input_with_instructions(client, upstream, tmp_path):
    response = client.responses.create(model="gpt-4o-mini", input="Say hello.", instructions="Be brief.", store=False)
    assert response.output_text == upstream.REPLY_TEXT and response.status == "completed"
    assert response.usage.output_tokens == 20 and response.usage.total_tokens > 20
    sent = upstream.requests[-1]["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    [row] = rows(tmp_path)
    assert row.function == "openai" and row.status == "ok"


def test_streamed_response_has_the_responses_event_sequence(client, upstream):
    events = list(client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "Hi"}], stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == upstream.REPLY_TEXT
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    completed = events[-1].response
    assert completed.output_text == upstream.REPLY_TEXT and completed.usage.output_tokens == 20


def test_function_calls_stream_as_argument_deltas_and_their_outputs_go_back(client, upstream):
    upstream.script(
        Deltas(tool_call_deltas(("call_1", "get_weather", '{"city": "Seoul"}'), pieces=4), finish="tool_calls")
    )
    events = list(client.responses.create(model="gpt-4o-mini", input="Weather?", tools=TOOLS, stream=True))
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(i.type, i.name) for i in added] == [("function_call", "get_weather")]
    assert added[0].call_id.startswith("call_")  # the relay's own id, not the upstream's "call_1"
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == {"city": "Seoul"}
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.arguments == deltas
    [call] = events[-1].response.output
    # AND the call's output goes back in the next request's input, as the SDK's docs show
    upstream.script("ok")
    follow = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=TOOLS,
    )
    assert follow.output_text == upstream.REPLY_TEXT
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id and sent[2] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "sunny",
    }


def test_a_streamed_response_lists_its_output_in_the_order_its_events_numbered_it(client, upstream):
    # GIVEN a model that calls a tool, then writes text
    deltas = (*tool_call_deltas(("call_1", "get_weather", '{"city": "Seoul"}'), pieces=2), {"content": "Checking."})
    upstream.script(Deltas(deltas, finish="tool_calls"))
    # WHEN the answer is streamed through the SDK's stream helper
    with client.responses.stream(model="gpt-4o-mini", input="Weather?", tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()
    # THEN response.completed lists the items by their output_index: the call (0), then the message (1)
    added = sorted((e.output_index, e.item.type) for e in events if e.type == "response.output_item.added")
    assert added == [(0, "function_call"), (1, "message")]
    assert [item.type for item in events[-1].response.output] == ["function_call", "message"]
    assert final.output[0].arguments == '{"city": "Seoul"}' and final.output_text == "Checking."


class City(BaseModel):
    name: str
    population: int


def test_structured_output_through_text_format(client, upstream):
    upstream.script(Ok(tokens=('{"name": "Seoul", "population": 9400000}',)))
    parsed = client.responses.parse(model="gpt-4o-mini", input="Biggest city?", text_format=City)
    assert parsed.output_parsed == City(name="Seoul", population=9400000)
    assert upstream.requests[-1]["response_format"]["json_schema"]["name"] == "City"


def test_async_streamed_response(start, upstream):
    async def run():
        client = openai.AsyncOpenAI(base_url=start(), api_key=KEY, max_retries=0)
        stream = await client.responses.create(model="gpt-4o-mini", input="Hi", stream=True)
        text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
        await client.close()
        return text

    assert asyncio.run(run()) == upstream.REPLY_TEXT


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"include": ["reasoning.encrypted_content", "message.output_text.logprobs"]}, "include"),
        ({"max_output_tokens": 100000}, "max_output_tokens"),
        ({"tool_choice": {"type": "function", "name": "nope"}, "tools": TOOLS}, "tool_choice"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0"),
        ({"input": []}, "input"),
        ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": 7}}}}, "text.format"),
    ],
)
def test_what_needs_stored_responses_or_is_malformed_answers_400(client, upstream, extra, param):
    arguments = {"model": "gpt-4o-mini", "input": "Hi", **extra}
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(**arguments)
    assert refused.value.param.startswith(param)
    assert upstream.requests == []
