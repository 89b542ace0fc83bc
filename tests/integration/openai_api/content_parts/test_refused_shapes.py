"""Answers whose content is neither a string nor a list of readable parts stay the provider's failure through /v1: a
502 `provider_failed` in OpenAI's error shape (docs/openai.md, Errors: "the provider failed"), or, after the first
byte of a stream, the stream's `error` event; never a 500, never a non-string `content` reaching the client. And a
client sending back an assistant message in Mistral's parts is answered a 400 naming it, never a 500."""

import json

import httpx
import openai
import pytest

from tests.integration.openai_api.conftest import KEY, MESSAGES, rows
from tests.support.upstream.behaviours import Deltas

from .conftest import Answer

MARKER = "okapi-vellum-5820"
SHAPES = {
    "content-object": {"type": "text", "text": f"The code is {MARKER}."},
    "part-text-object": [{"type": "text", "text": {"value": MARKER}}],
    "part-text-number": [{"type": "text", "text": 42}],
    "part-a-string": [MARKER],
    "part-without-type": [{"text": MARKER}],
    "part-of-a-type-not-read": [{"type": "output_text", "text": MARKER}],
    "thinking-text-object": [{"type": "thinking", "thinking": [{"type": "text", "text": {"v": MARKER}}]}],
    "thinking-an-object": [{"type": "thinking", "thinking": {"type": "text", "text": MARKER}}],
}


def post(base: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20)


def body_for(path: str, stream: bool) -> dict:
    if path == "/responses":
        return {"model": "gpt-4o-mini", "input": "hi", "stream": stream}
    return {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream}


@pytest.mark.upstream_failure
@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_a_malformed_buffered_content_is_a_502_provider_failed(start, parts_upstream, tmp_path, printed, path, shape):
    parts_upstream.script(Answer(message={"role": "assistant", "content": SHAPES[shape]}))
    answer = post(start(OPENAI_BASE_URL=parts_upstream.base_url), path, body_for(path, False))
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["type"]) == ("provider_failed", "api_error"), error
    assert MARKER not in answer.text
    assert not [line[:200] for line in printed() if MARKER in line]
    [row] = rows(tmp_path)
    assert row.status == "error"


@pytest.mark.upstream_failure
@pytest.mark.parametrize("path", ["/chat/completions", "/responses"])
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_a_malformed_first_streamed_content_is_a_502_before_the_stream(start, upstream, path, shape):
    upstream.script(Deltas(({"content": SHAPES[shape]}, {"content": "never"})))
    base = start()
    with httpx.stream(
        "POST", f"{base}{path}", json=body_for(path, True), headers={"authorization": f"Bearer {KEY}"}, timeout=20
    ) as answer:
        answer.read()
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "provider_failed"


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_a_malformed_streamed_content_after_text_ends_a_chat_stream_with_an_error(client, upstream, shape):
    upstream.script(Deltas(({"content": [{"type": "text", "text": "Hi"}]}, {"content": SHAPES[shape]})))
    seen = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            seen.extend(c.delta.content for c in chunk.choices if c.delta.content is not None)
    assert "".join(seen) == "Hi" and all(isinstance(s, str) for s in seen), seen  # the role chunk's content is ""
    assert MARKER not in str(raised.value)


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_a_malformed_streamed_content_after_text_ends_a_responses_stream_with_an_error(client, upstream, shape):
    upstream.script(Deltas(({"content": [{"type": "text", "text": "Hi"}]}, {"content": SHAPES[shape]})))
    events = []
    with pytest.raises(openai.APIError) as raised:  # the `error` event, as the SDK raises it (docs/openai.md)
        events.extend(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hi"
    assert not [e for e in events if e.type == "response.completed"]
    assert raised.value.body["code"] == "provider_failed", raised.value.body
    assert MARKER not in json.dumps([e.model_dump(mode="json") for e in events]) + str(raised.value)


def test_an_assistant_message_sent_back_in_mistral_parts_is_a_400_naming_it(start, upstream):
    # an assistant message as a Mistral-native client keeps it: thinking and text parts in its content
    history = [
        *MESSAGES,
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "Greet back."}]},
                {"type": "text", "text": "Hello!"},
            ],
        },
        {"role": "user", "content": "Again."},
    ]
    answer = post(start(), "/chat/completions", {"model": "gpt-4o-mini", "messages": history})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"].startswith("messages"), answer.json()
    assert upstream.requests == []
