"""Fixtures of the /v1 tests: the local API in front of the fault-injecting upstream, and the OpenAI SDK's client."""

import time
from datetime import UTC, datetime

import openai
import pytest

from airelay.usage.sqlite import SqliteLedger
from tests.support.upstream import FakeUpstream

KEY = "sdk-caller-key-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello."}]
SETTLED_S = 10


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def start(local_api, upstream, tmp_path):
    def start(**environment):
        defaults = {
            "CHAT_MODEL": "openai/gpt-4o-mini",
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "sk-test",
            "API_KEYS": f"sdk={KEY}",
            "UPSTREAM_TIMEOUT_S": 3,
            "STREAM_IDLE_TIMEOUT_S": 1,
            "UPSTREAM_MAX_RETRIES": 0,
        }
        base = local_api(**{**defaults, **environment})
        return f"{base}/v1"

    return start


@pytest.fixture
def client(start):
    return openai.OpenAI(base_url=start(), api_key=KEY, max_retries=0)


def rows(tmp_path, count=1):
    deadline = time.monotonic() + SETTLED_S
    while True:
        found = SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
