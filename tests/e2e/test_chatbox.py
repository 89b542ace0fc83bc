"""The README's React example, web/examples/ChatBox.jsx (useChat from @ai-sdk/react over the example's
DefaultChatTransport), unmodified, bundled with esbuild and rendered by react-dom in headless Chromium against the
local API and the fake upstream: a user types a message and clicks Send (tests/e2e/browser/chatbox.mjs)."""

from __future__ import annotations

import re

from tests.support.upstream import FakeUpstream, Ok

from .snippets import copy_examples
from .stack import run_node


def test_chatbox_renders_the_exact_answer_through_submitted_streaming_ready(fake_stack, upstream):
    # GIVEN an upstream that waits before its first chunk and spaces the rest, so each status is on screen a while
    upstream.script(Ok(delay_s=0.3, chunk_delay_s=0.03))
    examples = copy_examples(fake_stack, "chatbox")
    # WHEN the ChatBox page sends "Say hello."
    seen = run_node(
        ["tests/e2e/browser/chatbox.mjs"],
        timeout_s=60,
        env={"BASE_URL": fake_stack, "SNIPPET_DIR": str(examples), "EXPECTED_TEXT": FakeUpstream.REPLY_TEXT},
    )
    # THEN it showed submitted, then streaming, then ready, and the upstream's text exactly, grown in place
    assert seen["states"] == ["ready", "submitted", "streaming", "ready"]
    assert seen["answer"] == FakeUpstream.REPLY_TEXT
    assert seen["updates"] > 2
    # and the transient usage part reached the example's onUsage: tokens and cost under the answer
    match = re.fullmatch(r"(\d+) in · (\d+) out · \$([\d.e-]+)", seen["usage"])
    assert match and int(match[2]) > 0 and float(match[3]) > 0, seen["usage"]
    # the request was the transport's: the user's text, the example body's max_tokens
    (request,) = upstream.requests
    assert request["messages"][-1] == {"role": "user", "content": "Say hello."}
    assert request["max_tokens"] == 256
