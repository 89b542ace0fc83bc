"""An OpenAI-compatible upstream whose `content` is a list of typed parts, as Mistral's reasoning models (magistral)
send it ({"type": "thinking", "thinking": [text parts]}, {"type": "text"}, {"type": "reference"}), buffered and in
streamed `delta.content`, works end to end through /v1 with the real `openai` SDK: the client gets `content` as a
plain string, the thinking as `reasoning_content` (chat completions) and never in a Responses answer (docs/openai.md:
"Responses output carries no reasoning items"), structured output checked on the joined text parts, a tool loop
whose assistant message carried thinking, and the usage row billed as the upstream reported it."""

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from airelay.providers.base import Usage
from airelay.usage.pricing import load_prices
from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.integration.openai_api.test_sdk import TOOLS
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

from .conftest import REPORTED, Answer

THOUGHT = "The user wants the code; six times seven."
TEXT = "The code is 42."


def thinking(*texts: str) -> dict:
    return {"type": "thinking", "thinking": [{"type": "text", "text": t} for t in texts]}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


REFERENCE = {"type": "reference", "reference_ids": [1]}
PARTS = [thinking("The user wants the code; ", "six times seven."), text("The code is "), REFERENCE, text("42.")]
# streamed: the thinking in its own delta, the text across parts, a plain string delta and chunks
PART_DELTAS = (
    {"content": [thinking("The user wants the code; ")]},
    {"content": [thinking("six times seven."), text("The code ")]},
    {"content": "is "},
    {"content": [REFERENCE]},
    {"content": [text("4"), text("2.")]},
)


@pytest.fixture
def parts_client(start, parts_upstream):
    return openai.OpenAI(base_url=start(OPENAI_BASE_URL=parts_upstream.base_url), api_key=KEY, max_retries=0)


# --- /v1/chat/completions ------------------------------------------------------------------------------------------


def test_a_buffered_chat_completion_gives_the_text_parts_as_content_and_the_thinking_as_reasoning_content(
    parts_client, parts_upstream
):
    parts_upstream.script(Answer(message={"role": "assistant", "content": PARTS}))
    answer = parts_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    message = answer.choices[0].message
    assert isinstance(message.content, str) and message.content == TEXT
    assert message.model_extra["reasoning_content"] == THOUGHT
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (9, 37)
    assert answer.usage.completion_tokens_details.reasoning_tokens == 29


def test_a_buffered_chat_completion_on_the_wire_carries_a_string_content(start, parts_upstream):
    parts_upstream.script(Answer(message={"role": "assistant", "content": PARTS}))
    base = start(OPENAI_BASE_URL=parts_upstream.base_url)
    answer = httpx.post(
        f"{base}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text
    message = answer.json()["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == (TEXT, THOUGHT)


def test_a_streamed_chat_completion_streams_string_content_and_reasoning_content(client, upstream):
    upstream.script(Deltas(PART_DELTAS))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert all(d.content is None or isinstance(d.content, str) for d in deltas), [d.content for d in deltas]
    reasoning = [(d.model_extra or {}).get("reasoning_content") for d in deltas]
    assert all(r is None or isinstance(r, str) for r in reasoning), reasoning
    assert "".join(d.content or "" for d in deltas) == TEXT
    assert "".join(r or "" for r in reasoning) == THOUGHT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(PART_DELTAS)


# --- /v1/responses -------------------------------------------------------------------------------------------------


def test_a_buffered_response_answers_the_text_parts_and_no_reasoning(parts_client, parts_upstream):
    parts_upstream.script(Answer(message={"role": "assistant", "content": PARTS}))
    answer = parts_client.responses.create(model="gpt-4o-mini", input="The code?")
    assert answer.status == "completed" and answer.output_text == TEXT
    assert [item.type for item in answer.output] == ["message"]
    assert [part.type for part in answer.output[0].content] == ["output_text"]
    assert "six times seven" not in answer.model_dump_json()  # docs: no reasoning items
    assert answer.usage.output_tokens == 37 and answer.usage.output_tokens_details.reasoning_tokens == 29


def test_a_streamed_response_streams_the_text_parts_and_no_reasoning(client, upstream):
    upstream.script(Deltas(PART_DELTAS))
    events = list(client.responses.create(model="gpt-4o-mini", input="The code?", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == TEXT
    assert events[-1].type == "response.completed" and events[-1].response.output_text == TEXT
    assert not [e.type for e in events if "reasoning" in e.type]
    assert not [e.type for e in events if "six times seven" in e.model_dump_json()]


# --- structured output ---------------------------------------------------------------------------------------------


class City(BaseModel):
    name: str
    population: int


CITY = City(name="Seoul", population=9400000)
JSON_PARTS = [  # the JSON cut inside a string and inside a key; prose (not JSON) in the thinking
    thinking("Not JSON: {the biggest city"),
    text('{"name": "Se'),
    text('oul", "popu'),
    REFERENCE,
    text('lation": 9400000}'),
]
JSON_DELTAS = (
    {"content": [thinking("Not JSON: {the biggest city")]},
    {"content": [text('{"name": "Se'), text('oul", ')]},
    {"content": '"popu'},
    {"content": [REFERENCE, text('lation": 94')]},
    {"content": [text("00000}")]},
)
CITY_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "City",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
            "required": ["name", "population"],
            "additionalProperties": False,
        },
    },
}


def test_structured_output_in_text_parts_is_parsed_from_a_buffered_chat_completion(parts_client, parts_upstream):
    parts_upstream.script(Answer(message={"role": "assistant", "content": JSON_PARTS}))
    answer = parts_client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=City)
    assert answer.choices[0].message.parsed == CITY
    assert parts_upstream.requests[-1]["response_format"]["type"] == "json_schema"


def test_structured_output_in_text_parts_streams_from_a_chat_completion(client, upstream):
    upstream.script(Deltas(JSON_DELTAS))
    chunks = list(
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=CITY_FORMAT, stream=True)
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert City.model_validate_json(content) == CITY
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_structured_output_in_text_parts_is_parsed_from_a_buffered_response(parts_client, parts_upstream):
    parts_upstream.script(Answer(message={"role": "assistant", "content": JSON_PARTS}))
    answer = parts_client.responses.parse(model="gpt-4o-mini", input="The biggest city of Korea?", text_format=City)
    assert answer.output_parsed == CITY


def test_structured_output_in_text_parts_is_parsed_from_a_streamed_response(client, upstream):
    upstream.script(Deltas(JSON_DELTAS))
    with client.responses.stream(model="gpt-4o-mini", input="The biggest city of Korea?", text_format=City) as stream:
        final = stream.get_final_response()
    assert final.output_parsed == CITY


# --- a tool loop whose assistant message carried thinking ----------------------------------------------------------

CALL = {"id": "call_up_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Jeju"}'}}


def test_a_buffered_tool_call_round_trip_with_thinking_parts(parts_client, parts_upstream):
    # GIVEN a model whose tool-calling answer also carries thinking and text parts, then a final answer in parts
    parts_upstream.script(
        Answer(
            message={
                "role": "assistant",
                "content": [thinking("I need the weather."), text("Let me check.")],
                "tool_calls": [CALL],
            },
            finish="tool_calls",
        ),
        Answer(message={"role": "assistant", "content": [thinking("Sunny: say so."), text("It is sunny in Jeju.")]}),
    )
    # WHEN the SDK calls, then sends the message back as it got it with the tool's result (the SDK's docs' loop)
    messages = [*MESSAGES]
    first = parts_client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert (message.content, message.model_extra["reasoning_content"]) == ("Let me check.", "I need the weather.")
    [call] = message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Jeju"})
    messages += [message, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    final = parts_client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    # THEN the final answer is plain text, and the model got the call back without the reasoning
    assert (final.choices[0].message.content, final.choices[0].message.model_extra["reasoning_content"]) == (
        "It is sunny in Jeju.",
        "Sunny: say so.",
    )
    sent = parts_upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["content"] == "Let me check." and sent[1]["tool_calls"][0]["id"] == call.id
    assert "reasoning_content" not in sent[1] and "I need the weather." not in json.dumps(sent)
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


def test_a_streamed_tool_call_round_trip_with_thinking_parts(client, upstream):
    upstream.script(
        Deltas(
            (
                {"content": [thinking("I need the weather.")]},
                {"content": [text("Let me check.")]},
                *tool_call_deltas(("call_up_1", "get_weather", '{"city": "Jeju"}'), pieces=3),
            ),
            finish="tool_calls",
        ),
        Deltas(({"content": [thinking("Sunny: say so."), text("It is sunny ")]}, {"content": [text("in Jeju.")]})),
    )
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "Let me check."
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == "I need the weather."
    fragments = [f for d in deltas for f in d.tool_calls or ()]
    call_id = next(f.id for f in fragments if f.id)
    arguments = "".join(f.function.arguments or "" for f in fragments)
    assert json.loads(arguments) == {"city": "Jeju"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    follow_up = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": "Let me check.",
            "reasoning_content": "I need the weather.",  # what the stream held, sent back as the AI SDK does
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
    ]
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=follow_up, tools=TOOLS, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "It is sunny in Jeju."
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert "I need the weather." not in json.dumps(sent)


def test_a_responses_tool_round_trip_with_thinking_parts(parts_client, parts_upstream):
    parts_upstream.script(
        Answer(
            message={"role": "assistant", "content": [thinking("I need the weather.")], "tool_calls": [CALL]},
            finish="tool_calls",
        ),
        Answer(message={"role": "assistant", "content": [thinking("Sunny."), text("It is sunny in Jeju.")]}),
    )
    first = parts_client.responses.create(model="gpt-4o-mini", input="Weather in Jeju?", tools=[_responses_tool()])
    assert [item.type for item in first.output] == ["function_call"], first.output
    [call] = first.output
    follow = parts_client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "Weather in Jeju?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=[_responses_tool()],
    )
    assert follow.output_text == "It is sunny in Jeju."
    assert "Sunny." not in follow.model_dump_json()
    assert [m["role"] for m in parts_upstream.requests[-1]["messages"]] == ["user", "assistant", "tool"]


def _responses_tool() -> dict:
    function = TOOLS[0]["function"]
    return {"type": "function", "name": function["name"], "parameters": function["parameters"], "strict": False}


# --- the usage row --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "stream"),
    [("chat", False), ("chat", True), ("responses", False), ("responses", True)],
    ids=["chat-buffered", "chat-streamed", "responses-buffered", "responses-streamed"],
)
def test_the_usage_row_bills_what_the_upstream_reported(parts_client, parts_upstream, tmp_path, route, stream):
    parts_upstream.script(Answer(message={"role": "assistant", "content": PARTS}, deltas=PART_DELTAS))
    if route == "chat":
        answer = parts_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=stream)
        got = "".join(c.choices[0].delta.content or "" for c in answer if c.choices) if stream else None
        got = got if stream else answer.choices[0].message.content
    else:
        answer = parts_client.responses.create(model="gpt-4o-mini", input="The code?", stream=stream)
        got = list(answer)[-1].response.output_text if stream else answer.output_text
    assert got == TEXT
    [row] = rows(tmp_path)
    reported = Usage(9, 37, 4, reasoning_tokens=29)
    assert (row.function, row.model, row.status, row.estimated) == ("openai", "openai/gpt-4o-mini", "ok", False)
    assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (9, 4, 37)
    assert row.cost_usd == load_prices().price("openai/gpt-4o-mini").cost(reported) and row.cost_usd > 0
    assert REPORTED["total_tokens"] == row.prompt_tokens + row.completion_tokens


# --- edges of the parts' shape -------------------------------------------------------------------------------------


def test_thinking_as_a_plain_string_and_a_reasoning_field_beside_the_parts_are_both_reasoning(
    parts_client, parts_upstream
):
    content = [{"type": "thinking", "thinking": "Then."}, text("Done.")]
    message = {"role": "assistant", "reasoning_content": "First. ", "content": content}
    parts_upstream.script(Answer(message=message))
    answer = parts_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert (answer.choices[0].message.content, answer.choices[0].message.model_extra["reasoning_content"]) == (
        "Done.",
        "First. Then.",
    )


@pytest.mark.upstream_failure
def test_json_only_in_the_thinking_is_not_structured_output(start, parts_upstream, tmp_path):
    # the thinking holds valid JSON, the text parts none: the answer's text is checked, and it is not JSON
    parts_upstream.script(
        Answer(message={"role": "assistant", "content": [thinking('{"name": "Seoul", "population": 1}'), REFERENCE]})
    )
    answer = httpx.post(
        f"{start(OPENAI_BASE_URL=parts_upstream.base_url)}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "response_format": CITY_FORMAT},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    assert answer.status_code == 502 and answer.json()["error"]["code"] == "invalid_structured_output", answer.text
