"""OpenAICompatChatModel against a peer (an aiohttp server in the test's loop): what it asks (the output limit's name
for OpenAI and for other servers) and how it reads answers a peer may get wrong (reused call ids, odd usage)."""

import asyncio
import json

import pytest
from aiohttp import web

from airelay.providers.base import ChatRequest, Finished, ToolCallStart, Usage
from airelay.providers.openai_compat import OpenAICompatChatModel
from airelay.providers.upstream_http import UpstreamClient
from tests.support.loopback_peer import serving

REQUEST = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=100)
CALL_0 = {"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Seoul"}'}}


class Peer:
    """Answers every chat completion with `message` and `usage`, buffered or as a stream of chunks; keeps the bodies."""

    def __init__(self, message: dict, usage: dict) -> None:
        self.message, self.usage = message, usage
        self.requests: list[dict] = []

    async def __call__(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        reason = "tool_calls" if self.message.get("tool_calls") else "stop"
        if not body.get("stream"):
            choice = {"index": 0, "message": self.message, "finish_reason": reason}
            return web.json_response({"choices": [choice], "usage": self.usage})
        delta = {
            **self.message,
            "tool_calls": [{"index": i, **c} for i, c in enumerate(self.message.get("tool_calls", ()))],
        }
        chunks = [
            {"choices": [{"index": 0, "delta": delta}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]},
            {"choices": [], "usage": self.usage},
        ]
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return web.Response(body=sse.encode(), content_type="text/event-stream")


def model_at(base_url: str, model_id: str = "openai/gpt-4o-mini") -> OpenAICompatChatModel:
    client = UpstreamClient(base_url, "sk-test", timeout_s=5, connect_timeout_s=5, stream_read_s=5, max_retries=0)
    return OpenAICompatChatModel(model_id, client)


def answer(peer: Peer, stream: bool, model: OpenAICompatChatModel | None = None) -> tuple[list[str], Usage | None]:
    """The ids of the answer's tool calls and its usage, read the way the chosen path reads them, from `peer` served
    on loopback for the call."""

    async def read(model):
        async with serving(peer) as base_url:
            model = model or model_at(base_url)
            model.client.base_url = base_url
            try:
                if not stream:
                    completion = await model.complete(REQUEST)
                    return [c.id for c in completion.tool_calls], completion.finished.usage
                events = [e async for e in model.stream(REQUEST)]
                finished = next(e for e in events if isinstance(e, Finished))
                return [e.id for e in events if isinstance(e, ToolCallStart)], finished.usage
            finally:
                await model.client.close()

    return asyncio.run(read(model))


def test_openai_itself_is_asked_with_max_completion_tokens_which_its_reasoning_models_accept():
    # GIVEN OpenAI's own API and a reasoning model (they refuse the deprecated max_tokens with a 400)
    model = model_at("https://api.openai.com/v1", "openai/gpt-5-mini")
    # WHEN the model is asked
    sent = model.arguments(REQUEST)
    # THEN the output limit goes as max_completion_tokens
    assert sent["max_completion_tokens"] == 100 and "max_tokens" not in sent


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_other_openai_compatible_servers_are_asked_with_max_tokens(stream):
    # GIVEN a self-hosted OpenAI-compatible server (llama.cpp, vLLM, Ollama), which may not know the newer name
    peer = Peer({"role": "assistant", "content": "ok"}, {"prompt_tokens": 1, "completion_tokens": 1})
    answer(peer, stream)
    (sent,) = peer.requests
    assert sent["max_tokens"] == 100 and "max_completion_tokens" not in sent


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_tool_calls_get_ids_of_ours_when_the_peer_numbers_them_per_response(stream):
    # GIVEN a peer that calls its first tool call of every response "call_0"
    peer = Peer({"role": "assistant", "content": None, "tool_calls": [CALL_0]}, {"prompt_tokens": 1})
    model = model_at("http://127.0.0.1:9/v1")
    # WHEN two steps of one answer each call a tool
    first, _ = answer(peer, stream, model)
    second, _ = answer(peer, stream, model)
    # THEN each call has an id of its own, made here
    assert len(first) == len(second) == 1
    assert first != second and "call_0" not in first + second


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize(
    ("reported", "read"),
    [
        ({"prompt_tokens": 5, "completion_tokens": -10_000_000}, Usage(5, 0, 0)),
        ({"prompt_tokens": 5.0, "completion_tokens": 3}, Usage(5, 3, 0)),
        ({"prompt_tokens": 4, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 9}}, Usage(4, 3, 4)),
    ],
    ids=["negative", "float", "cached-above-prompt"],
)
def test_the_peers_usage_report_is_read_as_whole_non_negative_counts(stream, reported, read):
    # GIVEN a peer whose usage report is wrong in one way; WHEN it answers
    peer = Peer({"role": "assistant", "content": "ok"}, reported)
    _, usage = answer(peer, stream)
    # THEN the usage is counts a ledger can bill: whole numbers, none below zero, no more cached than prompt
    assert usage == read
    assert all(type(n) is int for n in (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens))
