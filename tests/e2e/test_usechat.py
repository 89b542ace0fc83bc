"""The real AI SDK (`ai@5`, `@ai-sdk/react`'s Chat that `useChat` wraps) against the local API and a fake
upstream, through the README's example web/examples/chat.js."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.upstream import FakeUpstream, Ok, ResetMidStream, Status

from .snippets import copy_examples
from .stack import run_node


@pytest.fixture
def examples(fake_stack):
    return copy_examples(fake_stack, "usechat")


def run_usechat(name: str, examples, **env: str) -> dict:
    """Runs the one test whose name matches; returns what it reported ({} if nothing)."""
    result = examples / "result.json"
    result.unlink(missing_ok=True)
    seen = run_node(
        ["--test", f"--test-name-pattern={name}", "--test-reporter=tap", "tests/e2e/usechat.test.mjs"],
        env={"SNIPPET_DIR": str(examples), "RESULT_FILE": str(result), **env},
    )
    out = seen["stdout"]
    assert "# pass 1" in out and "# fail 0" in out, out
    return json.loads(result.read_text()) if result.exists() else {}


def test_usechat_assembles_the_answer(examples, upstream):
    run_usechat("assembles the answer", examples, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    first, second = upstream.requests
    assert first["messages"][-1] == {"role": "user", "content": "Say hello."}
    # the second turn carried the first one as history, with the server's own system prompt first
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == FakeUpstream.REPLY_TEXT
    assert first["max_tokens"] == 256  # from the transport's body


def test_usechat_stop_closes_the_upstream(examples, upstream):
    upstream.script(Ok(chunk_delay_s=0.05))
    run_usechat("stop", examples, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    assert upstream.wait_closed(5.0), "stop() must make the server close the upstream request"


def server_error_text(api: str, upstream, fault) -> str:
    """What the API itself sends for this fault (the error part's text), straight from the wire."""
    upstream.script(fault)
    with httpx.stream("POST", f"{api}/api/chat/stream", json={"message": "x"}, timeout=10) as response:
        parts = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    return next(p["errorText"] for p in parts if p["type"] == "error")


def test_usechat_reports_a_mid_stream_failure_with_the_server_message(fake_stack, examples, upstream):
    expected = server_error_text(fake_stack, upstream, ResetMidStream(after_chunks=3))
    upstream.script(ResetMidStream(after_chunks=3))
    seen = run_usechat("mid-stream", examples, EXPECTED_ERROR=expected)
    assert seen["partial"] == FakeUpstream.reply_text(3)


@pytest.mark.upstream_failure
def test_usechat_reports_an_http_error_with_the_server_message(fake_stack, examples, upstream):
    upstream.script(Status(503))
    expected = httpx.post(f"{fake_stack}/api/chat/stream", json={"message": "x"}, timeout=10).json()["error"]
    upstream.script(Status(503))
    seen = run_usechat("HTTP error", examples, EXPECTED_ERROR=expected["message"])
    assert seen["error"]["code"] == "provider_unavailable"
