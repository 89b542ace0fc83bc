"""Prove the fake upstream's answers with the real openai SDK (httpx2 underneath) and httpx: its reply text,
buffered and streamed, the wire format, spending what a request allows, the default behaviour, models and delay."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.conftest import MESSAGES, assembled, client, collect_stream, run
from tests.support.upstream import FakeUpstream, Ok, Spend

EXPECTED_PROMPT_TOKENS = (2 + 4) + (3 + 4)


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
