"""The operator's system prompt policy (global and per key), and bad input on every /v1 endpoint."""

import httpx
import openai
import pytest

from airelay.personas import system_prompt
from tests.integration.openai_api.conftest import KEY, MESSAGES

OTHER_KEY = "other-caller-key-0123456789"
WITH_SYSTEM = [{"role": "system", "content": "You are a pirate."}, *MESSAGES]


def sent(upstream):
    return upstream.requests[-1]["messages"]


def test_pass_sends_the_clients_system_message_as_it_is(start, upstream):
    client = openai.OpenAI(base_url=start(SYSTEM_PROMPT_POLICY="pass"), api_key=KEY, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=WITH_SYSTEM)
    assert sent(upstream) == WITH_SYSTEM


def test_prepend_puts_the_servers_prompt_first(start, upstream):
    client = openai.OpenAI(base_url=start(SYSTEM_PROMPT_POLICY="prepend"), api_key=KEY, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=WITH_SYSTEM)
    assert sent(upstream) == [{"role": "system", "content": system_prompt("assistant")}, *WITH_SYSTEM]
    # AND through /v1/responses, instructions are the client's system message
    client.responses.create(model="gpt-4o-mini", input="Hi", instructions="Be brief.")
    assert [m["content"] for m in sent(upstream)][:2] == [system_prompt("assistant"), "Be brief."]


def test_refuse_answers_400_to_system_and_developer_messages(start, upstream):
    client = openai.OpenAI(base_url=start(SYSTEM_PROMPT_POLICY="refuse"), api_key=KEY, max_retries=0)
    for role in ("system", "developer"):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": role, "content": "x"}, *MESSAGES])
        assert refused.value.code == "system_refused" and refused.value.param == "messages"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input="Hi", instructions="Be brief.")
    assert upstream.requests == []
    # AND a request without one goes through
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert sent(upstream) == MESSAGES


def test_the_policy_can_differ_per_key(start, upstream):
    base = start(
        API_KEYS=f"sdk={KEY},other={OTHER_KEY}", SYSTEM_PROMPT_POLICY="pass", SYSTEM_PROMPT_POLICIES="other=refuse"
    )
    openai.OpenAI(base_url=base, api_key=KEY, max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=WITH_SYSTEM
    )
    assert sent(upstream) == WITH_SYSTEM
    with pytest.raises(openai.BadRequestError):
        openai.OpenAI(base_url=base, api_key=OTHER_KEY, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=WITH_SYSTEM
        )


def test_a_policy_that_is_not_one_of_the_three_is_refused_at_start():
    from airelay.settings import Settings

    with pytest.raises(ValueError):
        Settings.from_env({"SYSTEM_PROMPT_POLICY": "ignore"})
    with pytest.raises(ValueError):
        Settings.from_env({"SYSTEM_PROMPT_POLICIES": "abc=drop"})


@pytest.mark.parametrize(
    "path,body,status,param",
    [
        ("/chat/completions", b"{not json", 400, None),
        ("/chat/completions", b"[1, 2]", 400, None),
        ("/chat/completions", b'{"model": "gpt-4o-mini"}', 400, "messages"),
        ("/chat/completions", b'{"model": "gpt-4o-mini", "messages": []}', 400, "messages"),
        (
            "/chat/completions",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}',
            400,
            "messages.0",
        ),
        (
            "/chat/completions",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}',
            400,
            "messages.0",
        ),
        (
            "/chat/completions",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "bad name!"}}]}',
            400,
            "tools.0",
        ),
        (
            "/chat/completions",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": "f"}}',
            400,
            "tool_choice",
        ),
        (
            "/chat/completions",
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": ["f"]}}}',
            400,
            "tool_choice",
        ),
        (
            "/responses",
            b'{"model": "gpt-4o-mini", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": ["f"]}}',
            400,
            "tool_choice",
        ),
        ("/responses", b'{"model": "gpt-4o-mini"}', 400, "input"),
        ("/responses", b'{"model": "gpt-4o-mini", "input": 5}', 400, "input"),
        ("/embeddings", b'{"model": "local/use-multilingual", "input": []}', 400, "input"),
        ("/embeddings", b'{"model": "local/use-multilingual", "input": ["a", ""]}', 400, "input"),
        (
            "/embeddings",
            b'{"model": "local/use-multilingual", "input": "a", "encoding_format": "int8"}',
            400,
            "encoding_format",
        ),
        ("/embeddings", b'{"model": "local/use-multilingual", "input": "a", "dimensions": 64}', 400, "dimensions"),
        (
            "/embeddings",
            b'{"model": "text-embedding-ada-002", "input": "a"}',
            404,
            "model",
        ),  # not one this caller may use: OpenAI's NotFoundError
    ],
)
def test_bad_input_is_a_400_in_openais_shape_naming_the_parameter(start, upstream, path, body, status, param):
    answer = httpx.post(
        f"{start()}{path}", content=body, headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    )
    assert answer.status_code == status
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param or "")
    assert upstream.requests == []


@pytest.mark.parametrize(
    "path,body",
    [
        ("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": None}),
        ("/responses", {"model": "gpt-4o-mini", "input": "Hi", "stream": None}),
    ],
)
def test_a_null_stream_is_a_buffered_answer_as_openai_allows(start, upstream, path, body):
    answer = httpx.post(f"{start()}{path}", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["object"] in ("chat.completion", "response")


@pytest.mark.parametrize(
    "method,path", [("POST", "/chat/completions"), ("POST", "/responses"), ("POST", "/embeddings"), ("GET", "/models")]
)
def test_every_v1_route_needs_the_key_as_a_bearer_token(start, method, path):
    # as API Gateway answers before any function runs, in template.yaml's DEFAULT_4XX shape: no Authorization header
    # (the authorizer's identity source) or no bearer token in it is a 401, a key the usage plan does not hold a 403
    base = start()
    refusals = [
        ({}, 401),
        ({"x-api-key": KEY}, 401),
        ({"authorization": KEY}, 401),
        ({"authorization": "Bearer wrong-key-0123456789"}, 403),
    ]
    for headers, status in refusals:
        answer = httpx.request(method, f"{base}{path}", json={}, headers=headers)
        assert answer.status_code == status
        assert answer.json()["error"]["code"] == "request_rejected"


PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


def test_an_image_part_is_reserved_at_its_largest_billable_size(start, upstream):
    # GIVEN a caller budget that holds a text call's reservation, but not an image's worst case (48k prompt tokens)
    client = openai.OpenAI(base_url=start(IDENTITY_DAILY_BUDGET_USD="0.002"), api_key=KEY, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    image = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    # WHEN the same caller sends a one-pixel image, through chat completions and through responses
    with pytest.raises(openai.RateLimitError) as chat:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": image}])
    item = [{"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": PIXEL}]
    with pytest.raises(openai.RateLimitError) as responses:
        client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": item}])
    # THEN both are refused before any upstream call: the budget holds whatever the image turns out to cost
    assert chat.value.code == responses.value.code == "budget_exceeded"
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("declared", [True, False])
def test_a_data_url_over_the_body_limit_is_a_413_naming_the_limit(start, upstream, declared):
    base = start(MAX_BODY_BYTES="20000")
    big = "data:image/png;base64," + "A" * 30_000
    body = httpx.Request(
        "POST",
        "/",
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": big}}]}],
        },
    ).read()
    content = body if declared else (body[i : i + 4096] for i in range(0, len(body), 4096))  # chunked: no length
    answer = httpx.post(
        f"{base}/chat/completions",
        content=content,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    assert answer.status_code == 413
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "payload_too_large"
    assert "20000 bytes" in error["message"] and "data: URLs" in error["message"]
    assert upstream.requests == []


def test_a_conversation_longer_than_the_server_reads_is_a_400_before_the_model(start, upstream):
    # GIVEN a server that reads 100 characters of history and 50 of the new message
    client = openai.OpenAI(base_url=start(HISTORY_MAX_CHARS=100, MESSAGE_MAX_CHARS=50), api_key=KEY, max_retries=0)
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    long_call = {**call, "function": {"name": "get_weather", "arguments": '{"city": "' + "x" * 200 + '"}'}}
    too_long = [
        [{"role": "user", "content": "x" * 151}],
        # the text is short, the arguments of the call sent back are not: they are read by the model too
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [long_call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    ]
    # WHEN each is sent THEN each is a 400 naming the messages, and the model is never called
    for messages in too_long:
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert refused.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(
            model="gpt-4o-mini",
            input=[
                {"role": "user", "content": "Weather?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "x" * 200},
            ],
        )
    assert refused.value.param == "input"
    assert upstream.requests == []
    # AND a conversation within the limits is answered
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 150}])
    assert len(upstream.requests) == 1
