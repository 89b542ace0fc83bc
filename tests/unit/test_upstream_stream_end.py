"""A chat stream ends at `data: [DONE]`, as the OpenAI SDK's does (openai/_streaming.py: then a drain bounded by
0.1 s whose errors are swallowed): what a peer does with the connection afterwards cannot fail a finished answer."""

import asyncio
import json
import time

from aiohttp import web

from airelay.providers.base import ChatRequest, Finished
from tests.support.loopback_peer import serving, stream_slowly

REQUEST = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=100)


def sse(*chunks: dict) -> bytes:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()


def text(piece: str) -> bytes:
    return sse({"choices": [{"index": 0, "delta": {"content": piece}}]})


FINISHED = (
    text("Hello")
    + sse(
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    )
    + b"data: [DONE]\n\n"
)


def read(handle, *, stream_read_s: float = 5, consumer_pause_s: float = 0) -> tuple[list, Exception | None, float]:
    """The events `model.stream` yields from `handle`, the error it raised (or None), and the seconds it took."""

    async def go():
        async with serving(handle) as base_url:
            started = time.monotonic()
            events, error = await stream_slowly(base_url, REQUEST, lambda n: consumer_pause_s, stream_read_s)
            return events, error, time.monotonic() - started

    return asyncio.run(go())


def test_a_finished_answer_is_not_failed_by_a_connection_cut_after_done():
    # GIVEN a peer that sends a whole answer, its usage and [DONE], then drops the connection before the body's end
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FINISHED)
        await asyncio.sleep(0.2)
        request.transport.close()  # no terminating zero-length chunk
        return response

    events, error, _ = read(handle)
    # THEN the answer is finished with the usage the peer reported, as the SDK would deliver it
    assert error is None, f"finished answer failed: {error!r}"
    assert events[-1] == Finished("stop", events[-1].usage) and events[-1].usage.prompt_tokens == 3


def test_a_finished_answer_is_not_held_until_the_idle_timeout_by_a_peer_that_keeps_the_body_open_after_done():
    # GIVEN a peer that sends [DONE] but keeps the response open a while (a proxy, a server flushing late)
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FINISHED)
        await asyncio.sleep(2)
        return response

    events, error, took = read(handle, stream_read_s=1)
    # THEN the answer ends at [DONE]: neither a ProviderTimeout nor a wait for the idle timeout
    assert error is None, f"finished answer failed: {error!r}"
    assert isinstance(events[-1], Finished)
    assert took < 0.9
