"""Prove the fake upstream's faults with the real openai SDK (httpx2 underneath): status errors, and timing and
stream faults (slow first byte, stalls, resets, malformed chunks).

Run with ``-s`` to see which exception classes the SDK raises mid-stream.
"""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.support.conftest import MESSAGES, assembled, client, collect_stream, run
from tests.support.upstream import (
    SECRET_MARKER,
    FakeUpstream,
    MalformedChunk,
    ResetMidStream,
    SlowFirstByte,
    StallMidStream,
    Status,
)


def _exc_chain(e: BaseException) -> str:
    parts = []
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__module__}.{type(cur).__qualname__}({str(cur)!r})")
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


# --------------------------------------------------------------------------- status errors


def test_429_then_ok_with_one_retry(up):
    up.script(Status(429, retry_after=1), "ok")

    async def go():
        async with client(up, max_retries=1) as c:
            t = time.monotonic()
            r = await c.chat.completions.create(model="m", messages=MESSAGES)
            return r, time.monotonic() - t

    r, elapsed = run(go())
    assert r.choices[0].message.content == FakeUpstream.REPLY_TEXT
    assert len(up.requests) == 2
    assert 0.9 <= elapsed < 3, elapsed  # honoured retry-after: 1


def test_429_without_retries_raises_and_carries_secret(up):
    up.script("429")

    async def go():
        async with client(up) as c:
            await c.chat.completions.create(model="m", messages=MESSAGES)

    with pytest.raises(openai.RateLimitError) as ei:
        run(go())
    assert ei.value.response.headers["retry-after"] == "1"
    assert SECRET_MARKER in ei.value.response.text


@pytest.mark.parametrize("status", ["500", "502", "503", Status(500)])
def test_5xx_raises_internal_server_error(up, status):
    up.script(status)

    async def go():
        async with client(up) as c:
            await c.chat.completions.create(model="m", messages=MESSAGES)

    with pytest.raises(openai.InternalServerError) as ei:
        run(go())
    assert SECRET_MARKER in ei.value.response.text


def test_401_authentication_error(up):
    up.script("401")

    async def go():
        async with client(up) as c:
            await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    with pytest.raises(openai.AuthenticationError) as ei:
        run(go())
    assert ei.value.code == "invalid_api_key"
    assert SECRET_MARKER in ei.value.response.text


def test_unknown_behaviour_rejected(up):
    with pytest.raises(ValueError):
        up.script("nope")


# --------------------------------------------------------------------------- timing faults


@pytest.mark.parametrize("stream", [False, True])
def test_slow_first_byte_times_out(up, stream):
    up.script(SlowFirstByte(2))

    async def go():
        async with client(up, timeout=0.5) as c:
            t = time.monotonic()
            try:
                r = await c.chat.completions.create(model="m", messages=MESSAGES, stream=stream)
                if stream:
                    async for _ in r:
                        pass
            finally:
                print(f"\n[slow-first-byte stream={stream}] gave up after {time.monotonic() - t:.3f}s")

    with pytest.raises(openai.APITimeoutError):
        run(go())
    # the client hung up while the fake was still waiting: detected promptly
    assert up.wait_closed(5.0)


def test_stall_mid_stream_read_timeout(up):
    up.script(StallMidStream(after_chunks=5, seconds=30))
    got = []

    async def go():
        async with client(up, timeout=0.5) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for ch in stream:
                got.append(ch)

    t = time.monotonic()
    with pytest.raises(Exception) as ei:
        run(go())
    print(f"\n[stall] exception during iteration: {_exc_chain(ei.value)}")
    assert isinstance(ei.value, openai.APITimeoutError)
    assert assembled(got) == FakeUpstream.reply_text(5)
    assert up.wait_closed(5.0)
    assert time.monotonic() - t < 2.5


def test_stall_then_resumes(up):
    up.script(StallMidStream(after_chunks=2, seconds=0.3))

    async def go():
        async with client(up) as c:
            t = time.monotonic()
            chunks = await collect_stream(c)
            return chunks, time.monotonic() - t

    chunks, elapsed = run(go())
    assert assembled(chunks) == FakeUpstream.REPLY_TEXT
    assert elapsed >= 0.29
    assert up.closed_early == 0


def chunks_until_it_raises(up) -> tuple[list, pytest.ExceptionInfo]:
    """The chunks the SDK's stream yielded before it raised, and what it raised."""
    got = []

    async def go():
        async with client(up) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for ch in stream:
                got.append(ch)

    with pytest.raises(Exception) as ei:
        run(go())
    return got, ei


@pytest.mark.parametrize("rst", [True, False], ids=["rst", "fin"])
def test_reset_mid_stream_raises(up, rst):
    up.script(ResetMidStream(after_chunks=5, rst=rst))
    got, ei = chunks_until_it_raises(up)
    print(f"\n[reset rst={rst}] exception during iteration: {_exc_chain(ei.value)}")
    assert isinstance(ei.value, openai.APIConnectionError)
    assert assembled(got) == FakeUpstream.reply_text(5)


@pytest.mark.parametrize("then", ["continue", "close"])
def test_malformed_chunk_raises(up, then):
    up.script(MalformedChunk(after_chunks=3, then=then))
    got, ei = chunks_until_it_raises(up)
    print(f"\n[malformed then={then}] exception during iteration: {_exc_chain(ei.value)}")
    assert isinstance(ei.value, json.JSONDecodeError)
    assert assembled(got) == FakeUpstream.reply_text(3)


def test_streaming_faults_ignored_for_buffered_requests(up):
    up.script(ResetMidStream(), MalformedChunk(), StallMidStream(seconds=5))

    async def go():
        async with client(up) as c:
            return [
                (await c.chat.completions.create(model="m", messages=MESSAGES)).choices[0].message.content
                for _ in range(3)
            ]

    assert run(go()) == [FakeUpstream.REPLY_TEXT] * 3
