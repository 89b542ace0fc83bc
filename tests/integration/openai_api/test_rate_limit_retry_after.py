"""A provider's 429 without a retry-after header (vLLM, Ollama and proxies often send none) is still OpenAI's 429 with a
Retry-After of whole seconds, so the SDKs wait before they retry."""

import httpx
import pytest

from tests.integration.openai_api.conftest import KEY, MESSAGES
from tests.support.upstream import Status

CASES = {
    "chat buffered": ("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES}),
    "chat streamed": ("/chat/completions", {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}),
    "responses": ("/responses", {"model": "gpt-4o-mini", "input": "Hi"}),
}


@pytest.mark.parametrize("path,body", CASES.values(), ids=CASES.keys())
def test_a_provider_429_without_retry_after_is_still_a_429_with_retry_after(start, upstream, path, body):
    # GIVEN a model provider that rate limits without saying for how long
    upstream.script(Status(429))
    # WHEN a /v1 call meets it
    answer = httpx.post(f"{start()}{path}", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=20)
    # THEN the client gets OpenAI's 429, in OpenAI's shape, and a Retry-After of whole seconds
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in answer.headers, dict(answer.headers)
    assert int(answer.headers["retry-after"]) >= 1
