"""An OpenAI-compatible upstream whose answer carries `content` as a list of parts, as Mistral's reasoning models send
it: text parts are the answer, thinking parts its reasoning, buffered and streamed. A content or reasoning field of
another shape is a malformed answer: the provider's failure (502, and the fallback chain's business), never an
internal error; its text never reaches a log line; the UI stream's text deltas stay strings."""

import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.support import state
from tests.support.servers import ServerThread
from tests.support.state import forget_meter
from tests.support.upstream.behaviours import Deltas

MARKER = "okapi-vellum-5820"  # in the upstream's answer only
THOUGHT = "The user wants the code."
MISTRAL_PARTS = [  # magistral's answer: thinking, then text; a citation's reference part carries no text
    {"type": "thinking", "thinking": [{"type": "text", "text": THOUGHT}]},
    {"type": "text", "text": "The code is "},
    {"type": "reference", "reference_ids": [1]},
    {"type": "text", "text": "42."},
]
MALFORMED_CONTENT = {"type": "text", "text": f"The code is {MARKER}."}  # an object, not a string or a list


def odd_upstream(message: dict) -> Starlette:
    """POST /v1/chat/completions answering one buffered completion whose message is `message`, as given."""

    async def completions(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse(
            {
                "id": "chatcmpl-odd",
                "object": "chat.completion",
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


def answered_by(monkeypatch, message: dict, container) -> dict:
    with ServerThread(odd_upstream(message)) as server:
        for name, value in {
            "CHAT_MODEL": "openai/gpt-4o-mini",
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "OPENAI_API_KEY": "sk-test",
            "UPSTREAM_MAX_RETRIES": "0",
            "UPSTREAM_TIMEOUT_S": "5",
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        state.forget_chat_models()
        forget_meter()
        return container.invoke(load_event("chat_buffered")).result(timeout=30)


@pytest.mark.upstream_failure
def test_a_malformed_answer_never_reaches_a_log_line(chat_function, monkeypatch, printed):
    # GIVEN an upstream whose buffered answer's content is an object holding the marker
    # WHEN a buffered chat is answered
    answered_by(monkeypatch, {"role": "assistant", "content": MALFORMED_CONTENT}, chat_function)
    # THEN no line the function printed holds the answer's text
    leaked = [line[:200] for line in printed() if MARKER in line]
    assert not leaked, leaked


@pytest.mark.upstream_failure
@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": MALFORMED_CONTENT},
        {"role": "assistant", "content": [{"type": "text", "text": {"value": "Hello."}}]},
        {"role": "assistant", "content": [{"text": "Hello."}]},
        {"role": "assistant", "content": "Hello.", "reasoning_content": {"text": "thinking"}},
    ],
    ids=["content-object", "part-text-object", "part-without-type", "reasoning-object"],
)
def test_a_malformed_buffered_answer_is_the_providers_failure(chat_function, monkeypatch, printed, message):
    # GIVEN an upstream whose buffered answer is malformed in a way JSON allows
    # WHEN a buffered chat is answered
    response = answered_by(monkeypatch, message, chat_function)
    printed()
    # THEN the client gets the provider's failure (as for `data: {not json`), not "Something went wrong on our side"
    assert response["statusCode"] == 502, response["body"]
    assert json.loads(response["body"])["error"]["code"] == "provider_failed"


def test_a_buffered_answer_in_content_parts_is_read_as_text_and_reasoning(chat_function, monkeypatch, printed):
    # GIVEN an upstream answering as Mistral's reasoning models do: thinking, text and reference parts
    # WHEN a buffered chat is answered
    response = answered_by(monkeypatch, {"role": "assistant", "content": MISTRAL_PARTS}, chat_function)
    printed()
    # THEN the answer is the text parts, joined, and its reasoning the thinking part
    assert response["statusCode"] == 200, response["body"]
    answer = json.loads(response["body"])
    assert (answer["response"], answer["reasoning"]) == ("The code is 42.", THOUGHT)


def test_a_streamed_answer_in_content_parts_streams_text_and_reasoning(chat_function, upstream, printed):
    # GIVEN an upstream streaming a text delta, then deltas whose content is a list of parts
    upstream.script(
        Deltas(deltas=({"content": [MISTRAL_PARTS[0]]}, {"content": "Hi. "}, {"content": MISTRAL_PARTS[1:]}))
    )
    # WHEN the chat streams
    response = chat_function.invoke(load_event("chat_stream")).result(timeout=30)
    printed()
    # THEN the thinking streams as reasoning, the text parts as text, and the stream finishes cleanly
    parts = [json.loads(line[6:]) for line in response["body"].splitlines() if line.startswith("data: {")]
    assert "".join(part["delta"] for part in parts if part["type"] == "text-delta") == "Hi. The code is 42."
    assert "".join(part["delta"] for part in parts if part["type"] == "reasoning-delta") == THOUGHT
    assert [part["type"] for part in parts if part["type"] in ("error", "finish")] == ["finish"], parts


def test_a_streamed_delta_of_malformed_content_never_becomes_a_non_string_text_delta(chat_function, upstream, printed):
    # GIVEN an upstream streaming a text delta, then one whose content is an object
    upstream.script(Deltas(deltas=({"content": "Hi"}, {"content": MALFORMED_CONTENT})))
    # WHEN the chat streams
    response = chat_function.invoke(load_event("chat_stream")).result(timeout=30)
    printed()
    # THEN every text-delta part of the UI message stream carries a string (the AI SDK's schema: delta: string)
    parts = [json.loads(line[6:]) for line in response["body"].splitlines() if line.startswith("data: {")]
    deltas = [part["delta"] for part in parts if part["type"] == "text-delta"]
    assert deltas == ["Hi"], deltas
    # AND the stream ends with the provider's failure, not a clean finish
    assert [part["type"] for part in parts if part["type"] in ("error", "finish")][-1] == "error", parts
