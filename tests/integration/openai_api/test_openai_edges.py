"""/v1 conformance at the edges, with the real `openai` SDK (and raw bodies where the SDK would not send what a client
may) against the local API in front of the fault-injecting upstream: tools with structured output, model_not_found,
the param a bad field is named by, numbers no float holds, error messages kept short (on /api too)."""

import json

import httpx
import openai
import pytest

from tests.integration.openai_api.conftest import KEY, MESSAGES
from tests.support.upstream.behaviours import Deltas, tool_call_deltas

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
FORECAST = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
A_CALL = ("call_up", "get_weather", '{"city": "Seoul"}')


def post(base: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20)


# 1. An agent that asks for structured output AND offers tools (OpenAI Agents SDK `output_type` + tools, LangChain's
#    agents with a provider-side response_format, `client.chat.completions.parse(tools=..., response_format=...)`)
#    gets tool calls first: OpenAI answers them with `content: null`; airelay checks the empty text against the schema.


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_tool_call_answer_to_a_request_with_a_response_format_is_relayed_not_refused(client, upstream, stream):
    # GIVEN a model that answers a request with tools and a json_schema response_format by calling a tool
    upstream.script(Deltas(tool_call_deltas(A_CALL, pieces=2), finish="tool_calls"))
    response_format = {"type": "json_schema", "json_schema": {"name": "forecast", "schema": FORECAST}}
    # WHEN the SDK asks
    asked = dict(model="gpt-4o-mini", messages=MESSAGES, tools=CHAT_TOOLS, response_format=response_format)
    if stream:
        chunks = list(client.chat.completions.create(**asked, stream=True))
        calls = [f for c in chunks if c.choices for f in c.choices[0].delta.tool_calls or ()]
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        names = [f.function.name for f in calls if f.function and f.function.name]
    else:
        answer = client.chat.completions.create(**asked)
        finish = [answer.choices[0].finish_reason]
        names = [c.function.name for c in answer.choices[0].message.tool_calls or ()]
    # THEN the tool call comes back as OpenAI sends it (the schema is for the final answer, not for a tool call)
    assert names == ["get_weather"] and finish == ["tool_calls"]


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_function_call_answer_to_a_responses_request_with_text_format_is_relayed(client, upstream, stream):
    upstream.script(Deltas(tool_call_deltas(A_CALL), finish="tool_calls"))
    text = {"format": {"type": "json_schema", "name": "forecast", "schema": FORECAST}}
    asked = dict(model="gpt-4o-mini", input="Weather in Seoul?", tools=RESPONSES_TOOLS, text=text)
    if stream:
        with client.responses.stream(**asked) as events:
            for _ in events:
                pass
            answer = events.get_final_response()
    else:
        answer = client.responses.create(**asked)
    assert [(item.type, item.name) for item in answer.output] == [("function_call", "get_weather")]


# 2. docs/openai.md, Errors: "404 | a model this caller may not use (model_not_found) | NotFoundError"; OpenAI answers
#    an unknown embedding model with a 404 too. /v1/embeddings answers 400 (BadRequestError).


def test_an_embedding_model_the_caller_may_not_use_is_a_404_not_found_error(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-ada-002", input="hello")
    assert missing.value.code == "model_not_found" and missing.value.param == "model"


# 3. OpenAI's own model_not_found error has type invalid_request_error (its 404s do: an unknown model or URL);
#    airelay's says not_found_error, a type OpenAI does not send.


def test_model_not_found_has_openais_error_type(client):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-5-unknown", messages=MESSAGES)
    assert missing.value.code == "model_not_found" and missing.value.type == "invalid_request_error"


# 4. `param` names the parameter: pydantic puts the tag of a discriminated union (a message's role, a part's type)
#    in the error's location, and bad_body keeps it, so the param names a path that is not in the request
#    ("messages.0.user.content"), unlike the same image's other errors ("messages.0.content.1.image_url.url").


@pytest.mark.parametrize(
    "path,body,param",
    [
        (
            "/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user"}]},
            "messages.0.content",
        ),
        (
            "/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://example.test/a.png"}}],
                    }
                ],
            },
            "messages.0.content.0.image_url.url",
        ),
        (
            "/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [*MESSAGES, {"role": "tool", "tool_call_id": "", "content": "sunny"}],
            },
            "messages.1.tool_call_id",
        ),
        (
            "/responses",
            {
                "model": "gpt-4o-mini",
                "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://example.test/a"}]}],
            },
            "input.0.content.0.image_url",
        ),
    ],
    ids=["missing-content", "image-scheme", "tool-call-id", "responses-image-scheme"],
)
def test_a_bad_field_is_named_by_its_path_in_the_request(start, upstream, path, body, param):
    answer = post(start(), path, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param
    assert upstream.requests == []


# 5. A number JSON can write but no float can hold (1e400, RFC 8259 sets no range) is the client's bad input, refused
#    while the body is read: inside an object relayed as it is (a tool's JSON Schema, response_format) it would
#    otherwise reach the upstream request's encoder, or an event echoing it, as infinity.

HUGE = "__HUGE__"  # written as the bare number 1e400 by with_huge
USER = [{"role": "user", "content": "Hi"}]


def with_huge(body: dict) -> bytes:
    return json.dumps(body).replace(f'"{HUGE}"', "1e400").encode()


def post_raw(base: str, path: str, content: bytes) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    return httpx.post(f"{base}{path}", content=content, headers=headers, timeout=30)


def a_tool(parameters: dict) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


HUGE_BODIES = {
    "chat tool parameters": (
        "/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": USER,
            "tools": [a_tool({"type": "object", "properties": {"n": {"type": "number", "maximum": HUGE}}})],
        },
        "tools.0.function.parameters.properties.n.maximum",
    ),
    "chat tool parameters, streamed": (
        "/chat/completions",
        {"model": "gpt-4o-mini", "stream": True, "messages": USER, "tools": [a_tool({"type": "object", "x": HUGE})]},
        "tools.0.function.parameters.x",
    ),
    "chat json_schema field": (
        "/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": USER,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "n", "schema": {"type": "object"}, "strict": HUGE},
            },
        },
        "response_format.json_schema.strict",
    ),
    "responses tool parameters": (
        "/responses",
        {
            "model": "gpt-4o-mini",
            "input": "Hi",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "x": HUGE}}],
        },
        "tools.0.parameters.x",
    ),
    "responses text format, streamed": (
        "/responses",
        {"model": "gpt-4o-mini", "input": "Hi", "stream": True, "text": {"format": {"type": "text", "x": HUGE}}},
        "text.format.x",
    ),
}


@pytest.mark.parametrize("path,body,param", HUGE_BODIES.values(), ids=HUGE_BODIES.keys())
def test_a_number_no_float_holds_is_a_400_naming_it_before_any_upstream_call(start, upstream, path, body, param):
    answer = post_raw(start(), path, with_huge(body))
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert upstream.requests == []


# 6. A field's name is the client's text too: an error naming it stays short, on /api as on /v1.

LONG_NAME = "x" * 100_000  # well under MAX_BODY_BYTES
LONG_NAMED = {
    "/api/chat": ("/api/chat", {"message": "Hi", LONG_NAME: 1}),
    "/api/sentiment": ("/api/sentiment", {"text": "Hi", LONG_NAME: 1}),
    "/api/faq": ("/api/faq", {"question": "Hi", LONG_NAME: 1}),
    "/v1/chat/completions": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": USER, LONG_NAME: 1}),
    "/v1/embeddings": ("/v1/embeddings", {"model": "local/use-multilingual", "input": "Hi", LONG_NAME: 1}),
    "/v1/responses metadata": ("/v1/responses", {"model": "gpt-4o-mini", "input": "Hi", "metadata": {LONG_NAME: 1}}),
    "/v1 number": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": USER, LONG_NAME: HUGE}),
}


@pytest.mark.parametrize("path,body", LONG_NAMED.values(), ids=LONG_NAMED.keys())
def test_an_error_naming_a_huge_field_name_is_short(start, upstream, path, body):
    base = start().removesuffix("/v1")
    key = {"authorization": f"Bearer {KEY}"} if path.startswith("/v1") else {"x-api-key": KEY}
    headers = {**key, "content-type": "application/json"}
    answer = httpx.post(f"{base}{path}", content=with_huge(body), headers=headers, timeout=60)
    assert 400 <= answer.status_code < 500, answer.text[:300]
    error = answer.json()["error"]
    assert len(error["message"]) < 300 and len(error.get("param") or "") <= 80
    assert upstream.requests == []
