"""Prove the fake upstream with the real openai SDK (httpx2 underneath) and httpx.

Run with ``-s`` to see which exception classes the SDK raises mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.upstream import (
    SECRET_MARKER,
    FakeUpstream,
    MalformedChunk,
    Ok,
    ResetMidStream,
    SlowFirstByte,
    Spend,
    StallMidStream,
    Status,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello big world"},
]
EXPECTED_PROMPT_TOKENS = (2 + 4) + (3 + 4)


def run(coro):
    return asyncio.run(coro)


def _exc_chain(e: BaseException) -> str:
    parts = []
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__module__}.{type(cur).__qualname__}({str(cur)!r})")
        cur = cur.__cause__ or cur.__context__
    return " <- ".join(parts)


@pytest.fixture(scope="module")
def upstream_module():
    with FakeUpstream().start() as up:
        yield up


@pytest.fixture
def up(upstream_module: FakeUpstream) -> FakeUpstream:
    upstream_module.reset()
    yield upstream_module
    assert upstream_module.errors == []


def client(up: FakeUpstream, **kw) -> openai.AsyncOpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 5)
    return openai.AsyncOpenAI(base_url=up.base_url, api_key="x", **kw)


async def collect_stream(c: openai.AsyncOpenAI, **kw):
    stream = await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, **kw)
    chunks = []
    async for ch in stream:
        chunks.append(ch)
    return chunks


def assembled(chunks) -> str:
    return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)


# --------------------------------------------------------------------------- reply text


def test_reply_text_is_tricky():
    t = FakeUpstream.REPLY_TEXT
    assert t == FakeUpstream.reply_text(20)
    for needle in ("\n", "\n\n", "data: [DONE]", "안녕하세요", "👋"):
        assert needle in t
    # chunk i is REPLY_TOKENS[i % len]
    assert FakeUpstream.reply_text(3) == "".join(FakeUpstream.REPLY_TOKENS[:3])


# --------------------------------------------------------------------------- ok


def test_ok_buffered(up):
    async def go():
        async with client(up) as c:
            return await c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    r = run(go())
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o-mini"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == FakeUpstream.REPLY_TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == EXPECTED_PROMPT_TOKENS
    assert r.usage.completion_tokens == 20
    assert r.usage.total_tokens == EXPECTED_PROMPT_TOKENS + 20
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert up.requests[-1]["messages"] == MESSAGES
    assert up.request_headers[-1]["authorization"] == "Bearer x"


def test_ok_buffered_max_tokens_gives_length(up):
    async def go():
        async with client(up) as c:
            return await c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=5)

    r = run(go())
    assert r.choices[0].message.content == FakeUpstream.reply_text(5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5


def test_ok_with_tokens_answers_that_text_buffered_and_streamed(up):
    answer = ('{"sentiment": ', '"negative"', "}")
    up.script(Ok(tokens=answer), Ok(tokens=answer), {"type": "Ok", "tokens": ["a", "b"], "chunks": 5})

    async def go():
        async with client(up) as c:
            buffered = await c.chat.completions.create(model="m", messages=MESSAGES)
            streamed = await collect_stream(c, stream_options={"include_usage": True})
            cycled = await c.chat.completions.create(model="m", messages=MESSAGES)
            return buffered, streamed, cycled

    buffered, streamed, cycled = run(go())
    assert buffered.choices[0].message.content == "".join(answer) and buffered.usage.completion_tokens == 3
    assert [c.choices[0].delta.content for c in streamed if c.choices and c.choices[0].delta.content] == list(answer)
    assert streamed[-1].usage.completion_tokens == 3
    assert cycled.choices[0].message.content == "ababa"


@pytest.mark.parametrize("include_usage", [False, True])
def test_ok_streamed(up, include_usage):
    async def go():
        async with client(up) as c:
            kw = {"stream_options": {"include_usage": True}} if include_usage else {}
            return await collect_stream(c, **kw)

    chunks = run(go())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert assembled(chunks) == FakeUpstream.REPLY_TEXT
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 20
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
        assert chunks[-1].choices == []
        assert chunks[-1].usage.prompt_tokens == EXPECTED_PROMPT_TOKENS
        assert chunks[-1].usage.completion_tokens == 20
    else:
        assert usage_chunks == []
        assert all(c.choices for c in chunks)


def test_streamed_wire_format(up):
    """Raw bytes: one SSE event per HTTP chunk, [DONE] last, chunked framing."""

    async def go():
        async with httpx.AsyncClient(base_url=up.base_url) as c:
            r = await c.post(
                "/chat/completions",
                json={"model": "m", "messages": MESSAGES, "stream": True, "max_tokens": 4},
            )
            return r

    r = run(go())
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    events = r.text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    payloads = [json.loads(e[len("data: ") :]) for e in events[:-2]]
    assert [p["object"] for p in payloads] == ["chat.completion.chunk"] * 6  # role + 4 + finish
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"


# --------------------------------------------------------------------------- spending what a request allows

KOREAN_MESSAGES = [{"role": "user", "content": "배송비 얼마예요?"}, {"role": "assistant", "content": "3,000원"}]


@pytest.mark.parametrize(
    ("messages", "prompt_bytes"),
    [
        (MESSAGES, (8 + 4) + (15 + 4) + 3),
        (KOREAN_MESSAGES, (len("배송비 얼마예요?".encode()) + 4) + (len("3,000원".encode()) + 4) + 3),
    ],
    ids=["english", "korean"],
)
def test_spend_uses_the_whole_allowance_and_counts_prompt_bytes(up, messages, prompt_bytes):
    # GIVEN an upstream that spends all a request allows
    up.script(Spend(), Spend())

    async def go():
        async with client(up) as c:
            buffered = await c.chat.completions.create(model="m", messages=messages, max_tokens=37)
            stream = await c.chat.completions.create(
                model="m", messages=messages, max_tokens=37, stream=True, stream_options={"include_usage": True}
            )
            return buffered, [chunk async for chunk in stream]

    buffered, streamed = run(go())
    # THEN both answers are max_tokens long, stop for "length", and report the prompt's byte count
    assert buffered.choices[0].message.content == FakeUpstream.reply_text(37)
    assert buffered.choices[0].finish_reason == "length"
    assert (buffered.usage.prompt_tokens, buffered.usage.completion_tokens) == (prompt_bytes, 37)
    assert assembled(streamed) == FakeUpstream.reply_text(37)
    assert [c.choices[0].finish_reason for c in streamed if c.choices and c.choices[0].finish_reason] == ["length"]
    assert (streamed[-1].usage.prompt_tokens, streamed[-1].usage.completion_tokens) == (prompt_bytes, 37)


def test_spend_more_than_allowed_ignores_max_tokens(up):
    # GIVEN an upstream that overspends by 5 completion and 11 prompt tokens
    up.script(Spend(extra_completion=5, extra_prompt=11), Spend(extra_completion=5, extra_prompt=11))

    async def go():
        async with client(up) as c:
            buffered = await c.chat.completions.create(model="m", messages=MESSAGES, max_tokens=10)
            streamed = await collect_stream(c, max_tokens=10, stream_options={"include_usage": True})
            return buffered, streamed

    buffered, streamed = run(go())
    # THEN it answers 15 chunks and reports them, with a prompt 11 over its byte count
    bound = (8 + 4) + (15 + 4) + 3
    assert buffered.choices[0].message.content == FakeUpstream.reply_text(15)
    assert (buffered.usage.prompt_tokens, buffered.usage.completion_tokens) == (bound + 11, 15)
    assert len([c for c in streamed if c.choices and c.choices[0].delta.content]) == 15
    assert (streamed[-1].usage.prompt_tokens, streamed[-1].usage.completion_tokens) == (bound + 11, 15)


def test_a_default_behaviour_answers_every_unscripted_request():
    # GIVEN an upstream whose every answer spends the whole allowance, and one scripted failure
    with FakeUpstream(behaviour={"type": "Spend"}) as up:
        up.script("500")

        async def go():
            async with httpx.AsyncClient(base_url=up.base_url) as c:
                body = {"model": "m", "messages": MESSAGES, "max_tokens": 33}
                return [(await c.post("/chat/completions", json=body)) for _ in range(3)]

        first, *rest = run(go())
    # THEN the script comes first, then the default
    assert first.status_code == 500
    assert [r.json()["usage"]["completion_tokens"] for r in rest] == [33, 33]


def test_models(up):
    async def go():
        async with client(up) as c:
            return [m.id async for m in c.models.list()]

    assert "gpt-4o-mini" in run(go())


def test_delay_s_before_headers():
    with FakeUpstream(delay_s=0.2).start() as up:

        async def go():
            async with client(up) as c:
                t = time.monotonic()
                await c.chat.completions.create(model="m", messages=MESSAGES)
                return time.monotonic() - t

        assert 0.19 <= run(go()) < 2


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


@pytest.mark.parametrize("rst", [True, False], ids=["rst", "fin"])
def test_reset_mid_stream_raises(up, rst):
    up.script(ResetMidStream(after_chunks=5, rst=rst))
    got = []

    async def go():
        async with client(up) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for ch in stream:
                got.append(ch)

    with pytest.raises(Exception) as ei:
        run(go())
    print(f"\n[reset rst={rst}] exception during iteration: {_exc_chain(ei.value)}")
    assert isinstance(ei.value, openai.APIConnectionError)
    assert assembled(got) == FakeUpstream.reply_text(5)


@pytest.mark.parametrize("then", ["continue", "close"])
def test_malformed_chunk_raises(up, then):
    up.script(MalformedChunk(after_chunks=3, then=then))
    got = []

    async def go():
        async with client(up) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for ch in stream:
                got.append(ch)

    with pytest.raises(Exception) as ei:
        run(go())
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


# --------------------------------------------------------------------------- client disconnects


@pytest.mark.parametrize(
    "behaviour", [StallMidStream(after_chunks=2, seconds=30), Ok(chunk_delay_s=0.2)], ids=["stall", "slow-stream"]
)
def test_client_closing_stream_early_is_detected(up, behaviour):
    up.script(behaviour)

    async def go():
        async with client(up) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            n = 0
            async for _ in stream:
                n += 1
                if n == 2:
                    break
            await stream.close()

    run(go())
    assert up.wait_closed(5.0)  # well before the 30 s stall ends: noticed while waiting, not at the next write
    assert up.closed_early == 1
    assert up.events.is_set()


def test_completed_stream_is_not_closed_early(up):
    async def go():
        async with client(up) as c:
            await collect_stream(c)

    run(go())
    # once the server has seen the client's connection end (polled), it has counted any early close
    deadline = time.monotonic() + 10
    while up._conns and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not up._conns and up.closed_early == 0


# --------------------------------------------------------------------------- keep-alive


def test_keep_alive_httpx(up):
    async def go():
        async with httpx.AsyncClient(base_url=up.base_url) as c:
            for _ in range(2):
                r = await c.post("/chat/completions", json={"model": "m", "messages": MESSAGES})
                assert r.status_code == 200

    run(go())
    assert up.connections == 1
    assert len(up.requests) == 2


def test_keep_alive_openai_sdk_mixed(up):
    """Buffered, streamed, error and buffered again all reuse one connection."""
    up.script("ok", "ok", Status(429))

    async def go():
        async with client(up) as c:
            await c.chat.completions.create(model="m", messages=MESSAGES)
            assert assembled(await collect_stream(c)) == FakeUpstream.REPLY_TEXT
            with pytest.raises(openai.RateLimitError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
            await c.chat.completions.create(model="m", messages=MESSAGES)

    run(go())
    assert up.connections == 1
    assert len(up.requests) == 4


def test_chunked_request_body_and_connection_close(up):
    """Chunked request bodies are accepted; `Connection: close` streams close-delimited."""
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", up.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            + b"%x\r\n%s\r\n" % (10, body[:10])
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 10, body[10:])
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head and b"transfer-encoding" not in head
    assert rest.endswith(b"data: [DONE]\n\n")
    assert up.requests[-1]["stream"] is True


# --------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_foreground_process():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(port), "--chunks", "3"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}/v1" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as c:
            r = c.post("/__fake/script", json=["503"])
            assert r.status_code == 200 and r.json()["pending"][0]["status"] == 503
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
            assert r.status_code == 503
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
            assert r.json()["choices"][0]["message"]["content"] == FakeUpstream.reply_text(3)
            stats = c.get("/__fake/stats").json()
            assert stats["requests"] == 2 and stats["connections"] == 1
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
