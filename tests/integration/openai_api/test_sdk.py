"""The real `openai` Python SDK against the local API's /v1 routes, with nothing but a base URL and a key; the model
behind them is the fault-injecting OpenAI-compatible upstream on 127.0.0.1."""

import asyncio
import json

import openai
import pytest
from pydantic import BaseModel

from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream import Ok, Status
from tests.support.upstream.behaviours import Deltas, tool_call_deltas


def test_buffered_chat_answers_with_the_upstream_text_and_usage(client, upstream, tmp_path):
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == upstream.REPLY_TEXT
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 20 and answer.usage.total_tokens == answer.usage.prompt_tokens + 20
    [row] = rows(tmp_path)
    assert (row.function, row.status, row.completion_tokens) == ("openai", "ok", 20)


def test_streamed_chat_is_exact_and_ends_with_usage_when_asked(client, upstream):
    stream = client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstream.REPLY_TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20


def test_async_client_buffered_and_streamed(start, upstream):
    async def run():
        client = openai.AsyncOpenAI(base_url=start(), api_key=KEY, max_retries=0)
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        await client.close()
        return answer.choices[0].message.content, "".join(parts)

    buffered, streamed = asyncio.run(run())
    assert buffered == streamed == upstream.REPLY_TEXT


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_a_tool_call_round_trip_streams_fragments_as_openai_does(client, upstream):
    # GIVEN a model that calls two tools, its arguments in pieces, the calls interleaved
    calls = (("call_a", "get_weather", '{"city": "Seoul"}'), ("call_b", "get_weather", '{"city": "Busan"}'))
    upstream.script(Deltas(tool_call_deltas(*calls, pieces=3, interleave=True), finish="tool_calls"))
    # WHEN the SDK streams the answer
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, tool_choice="auto", stream=True
        )
    )
    fragments = [f for c in chunks if c.choices for f in c.choices[0].delta.tool_calls or ()]
    # THEN every fragment has its index; id, type and name only on the first of each call
    firsts = [f for f in fragments if f.id]
    assert [(f.index, f.type, f.function.name) for f in firsts] == [
        (0, "function", "get_weather"),
        (1, "function", "get_weather"),
    ]
    ids = [f.id for f in firsts]  # the relay's own, not the upstream's
    assert len(set(ids)) == 2 and all(i.startswith("call_") and i not in ("call_a", "call_b") for i in ids)
    assert all(f.index in (0, 1) for f in fragments)
    assert all(f.id is None and f.type is None and f.function.name is None for f in fragments if f not in firsts)
    arguments = {i: "".join(f.function.arguments or "" for f in fragments if f.index == i) for i in (0, 1)}
    assert json.loads(arguments[0]) == {"city": "Seoul"} and json.loads(arguments[1]) == {"city": "Busan"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # AND the tools' results go back to the model with the calls, as the SDK sends them
    upstream.script("ok")
    follow_up = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, (_, name, args) in zip(ids, calls, strict=True)
            ],
        },
        {"role": "tool", "tool_call_id": ids[0], "content": "sunny"},
        {"role": "tool", "tool_call_id": ids[1], "content": "rain"},
    ]
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=follow_up, tools=TOOLS)
    assert answer.choices[0].message.content == upstream.REPLY_TEXT
    sent = upstream.requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "tool"]
    assert (
        sent["messages"][1]["tool_calls"][0]["id"] == ids[0] and sent["tools"][0]["function"]["name"] == "get_weather"
    )


def test_a_buffered_tool_call_comes_back_as_the_message_tool_calls(client, upstream):
    upstream.script(Deltas(tool_call_deltas(("call_x", "get_weather", '{"city": "Jeju"}')), finish="tool_calls"))
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, tool_choice="required", parallel_tool_calls=False
    )
    [call] = answer.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Jeju"})
    assert call.id.startswith("call_") and call.id != "call_x"  # the relay's own id
    assert answer.choices[0].finish_reason == "tool_calls"
    assert upstream.requests[-1]["tool_choice"] == "required" and upstream.requests[-1]["parallel_tool_calls"] is False


class Weather(BaseModel):
    city: str
    celsius: int


def test_structured_output_is_parsed_by_the_sdk(client, upstream):
    upstream.script(Ok(tokens=('{"city": "Seoul",', ' "celsius": 21}')))
    answer = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Weather)
    assert answer.choices[0].message.parsed == Weather(city="Seoul", celsius=21)
    assert upstream.requests[-1]["response_format"]["type"] == "json_schema"


@pytest.mark.upstream_failure
def test_an_answer_that_breaks_the_schema_is_an_error_never_prose(client, upstream, tmp_path):
    upstream.script(Ok(tokens=("Sure! It is sunny.",)))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Weather)
    assert raised.value.status_code == 502 and raised.value.code == "invalid_structured_output"
    [row] = rows(tmp_path)
    assert row.status == "error" and row.completion_tokens > 0


def test_a_streamed_answer_that_breaks_the_schema_ends_with_an_error_and_an_error_row(client, upstream, tmp_path):
    upstream.script(Ok(tokens=('{"city": 5}',)))
    schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": Weather.model_json_schema()}}
    with pytest.raises(openai.APIError, match="did not match"):
        list(
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format=schema, stream=True)
        )
    [row] = rows(tmp_path)
    assert row.status == "error" and row.completion_tokens > 0


def test_structured_output_falls_back_past_an_invalid_answer_and_skips_incapable_models(start, upstream, tmp_path):
    client = openai.OpenAI(
        base_url=start(
            ALLOWED_CHAT_MODELS="openai/gpt-4.1-mini",
            CHAT_FALLBACK_MODELS="openai/gpt-4.1-nano,openai/gpt-4.1-mini",
            NO_STRUCTURED_OUTPUT_MODELS="openai/gpt-4.1-nano",
        ),
        api_key=KEY,
        max_retries=0,
    )
    # GIVEN the first model answers in prose, the next capable one in JSON
    upstream.script(Ok(tokens=("It is sunny.",)), Ok(tokens=('{"city": "Seoul", "celsius": 21}',)))
    answer = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Weather)
    # THEN the answer is the valid one, and the model without structured output was never asked
    assert answer.choices[0].message.parsed == Weather(city="Seoul", celsius=21)
    assert [r["model"] for r in upstream.requests] == ["gpt-4o-mini", "gpt-4.1-mini"]
    assert sorted(r.status for r in rows(tmp_path, 2)) == ["error", "ok"]


@pytest.mark.upstream_failure
def test_json_object_mode_needs_an_object(client, upstream):
    upstream.script(Ok(tokens=("[1, 2]",)))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, response_format={"type": "json_object"})


def test_embeddings_float_and_base64(client):
    floats = client.embeddings.create(
        model="local/use-multilingual", input=["안녕하세요", "hello"], encoding_format="float"
    )
    packed = client.embeddings.create(model="use-multilingual", input=["안녕하세요", "hello"])  # the SDK asks base64
    assert [len(d.embedding) for d in floats.data] == [512, 512]
    assert packed.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert sum(x * x for x in floats.data[1].embedding) == pytest.approx(1.0, abs=1e-4)


def test_models_lists_what_the_caller_may_use(start):
    client = openai.OpenAI(base_url=start(ALLOWED_CHAT_MODELS="openai/gpt-4.1-mini"), api_key=KEY, max_retries=0)
    ids = [m.id for m in client.models.list()]
    assert ids == ["openai/gpt-4o-mini", "openai/gpt-4.1-mini", "local/use-multilingual"]


def test_typed_errors_403_404_422_429(client, start, upstream):
    # a key the usage plan does not hold: API Gateway's 403 (template.yaml ApiKeySourceType AUTHORIZER)
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=client.base_url, api_key="wrong-key-0123456789", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-5-unknown", messages=MESSAGES)
    assert missing.value.code == "model_not_found"
    upstream.script(Status(400))  # the model provider refused the request: the client's to change
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    upstream.script(Status(429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "7"


def test_a_spent_budget_is_a_429_the_sdk_does_not_retry(start, upstream):
    client = openai.OpenAI(base_url=start(IDENTITY_DAILY_BUDGET_USD="0.0000001"), api_key=KEY, max_retries=2)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert refused.value.code == "budget_exceeded" and refused.value.type == "insufficient_quota"
    assert int(refused.value.response.headers["retry-after"]) > 0
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert upstream.requests == []


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"store": True}, "store"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"max_tokens": 100000}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}, "tools": TOOLS}, "tool_choice"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}}},
            "response_format",
        ),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
    ],
)
def test_refused_parameters_answer_400_naming_them(client, upstream, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **extra)
    assert refused.value.param == param
    assert upstream.requests == []
