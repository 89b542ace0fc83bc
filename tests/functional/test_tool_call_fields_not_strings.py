"""A tool call's `arguments` or `name` that is not a string (some OpenAI-compatible servers send `arguments` as a JSON
object) is the provider's failure, as a non-string content is: 502 and the fallback chain for a buffered chat, an
error for a stream, never a 500 or a non-string tool-input delta."""

import asyncio
import json

import pytest
from aiohttp import web

from airelay.errors import AirelayError, ProviderFailed
from airelay.providers.base import ChatRequest, ToolCallDelta
from airelay.providers.openai_compat import OpenAICompatChatModel
from airelay.providers.upstream_http import UpstreamClient
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support.loopback_peer import serving

REQUEST = ChatRequest(messages=[{"role": "user", "content": "weather?"}], max_tokens=100)
CALL_AS_OBJECT = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Seoul"}}}


def buffered(message: dict):
    async def handle(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response(
            {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5},
            }
        )

    return handle


def streamed(*chunks: dict):
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.json()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write("".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n")
        return response

    return handle


def run(handle, call):
    async def go():
        async with serving(handle) as base_url:
            client = UpstreamClient(base_url, "sk", timeout_s=5, connect_timeout_s=2, stream_read_s=5, max_retries=0)
            try:
                return await call(OpenAICompatChatModel("openai/gpt-4o-mini", client))
            except Exception as exc:
                return exc
            finally:
                await client.close()

    return asyncio.run(go())


def test_a_buffered_tool_call_whose_arguments_are_an_object_is_the_providers_failure():
    async def call(model):
        return await model.complete(REQUEST)

    outcome = run(buffered({"role": "assistant", "content": None, "tool_calls": [CALL_AS_OBJECT]}), call)
    assert isinstance(outcome, ProviderFailed), f"accepted as {outcome!r}"


def test_a_streamed_tool_call_whose_arguments_are_an_object_is_the_providers_failure():
    fragment = {"index": 0, "id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"a": 1}}}
    chunks = (
        {"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    )

    async def call(model):
        return [event async for event in model.stream(REQUEST)]

    outcome = run(streamed(*chunks), call)
    if isinstance(outcome, list):
        odd = [e for e in outcome if isinstance(e, ToolCallDelta) and not isinstance(e.fragment, str)]
        assert not odd, f"non-string tool-call delta passed on: {odd!r}"
    assert isinstance(outcome, AirelayError), f"stream ended as {outcome!r}"


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


@pytest.mark.upstream_failure
def test_a_buffered_chat_whose_tool_call_arguments_are_an_object_is_a_502_not_a_500(chat_function, monkeypatch):
    # reuses the odd upstream of tests/functional/test_upstream_content_parts.py
    from tests.functional.test_upstream_content_parts import answered_by

    response = answered_by(
        monkeypatch, {"role": "assistant", "content": None, "tool_calls": [CALL_AS_OBJECT]}, chat_function
    )
    assert response["statusCode"] == 502, response["body"]
    assert json.loads(response["body"])["error"]["code"] == "provider_failed"
