"""What the chat-tools tests share (tests/integration/test_chat_tools_*.py): the fake upstream and the local API that
offers the test tools (tests.support.tools), as the module fixtures `upstream`, `api` and `clean`, which a test
module imports to use; the chat call, which records every SSE body in RECORDED; and the part-type helpers.

RECORDED collects the bodies of both modules' tests: test_chat_tools_sequences.py replays them all through the real
`ai` package in its last test, after test_chat_tools_interruptions.py (which sorts before it) has run.
"""

import httpx
import pytest

from tests.integration.test_chat_faults import stream_parts
from tests.support.upstream import FakeUpstream, Ok

BODY = {"message": "What is the weather in Seoul?"}
WEATHER = '{"city": "Seoul"}'
RECORDED: dict[str, bytes] = {}  # every test's SSE body, replayed through the real `ai` package at the end
REQUEST_IDS: dict[str, str] = {}


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream() as up:
        yield up


def upstream_settings(upstream) -> dict[str, object]:
    """The local API's chat model on the fake upstream, which the tests script (no retries: each reply is counted)."""
    return {
        "CHAT_MODEL": "openai/gpt-4o-mini",
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-test",
        "UPSTREAM_MAX_RETRIES": 0,
    }


@pytest.fixture(scope="module")
def api(module_local_api, upstream):
    return module_local_api(
        **upstream_settings(upstream),
        TOOLS_MODULE="tests.support.tools",
        CHAT_TOOLS="assistant=weather+explode+sleepy+big+slow",
        CHAT_MAX_STEPS=3,
    )


@pytest.fixture(autouse=True)
def clean(upstream):
    upstream.reset()
    yield
    assert not upstream.errors


def chat(api, name: str, body=BODY) -> list:
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=30) as response:
        assert response.status_code == 200
        raw = response.read()
    RECORDED[name] = raw
    REQUEST_IDS[name] = response.headers["x-request-id"]
    return stream_parts(httpx.Response(200, content=raw))


def types(parts) -> list[str]:
    return [p if isinstance(p, str) else p["type"] for p in parts]


def squeezed(names: list[str]) -> list[str]:
    """Runs of the same delta part as one name, so sequences read independent of chunking."""
    out = []
    for name in names:
        if not (out and name == out[-1] and name.endswith("-delta")):
            out.append(name)
    return out


ANSWER = Ok(tokens=("It is ", "clear."))
TAIL = ["finish-step", "data-usage", "finish", "[DONE]"]
