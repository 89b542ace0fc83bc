"""Fixtures and helpers of the fake upstream's tests (tests/support/test_upstream_*.py): one fake upstream per test
module, reset for each test, and the real openai SDK as its client."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.support.upstream import FakeUpstream

MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "hello big world"},
]


def run(coro):
    return asyncio.run(coro)


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
