"""The reasoning tokens a provider reports (completion_tokens_details) reach the Responses usage (output_tokens_details)
and the chat completion usage (completion_tokens_details)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.integration.openai_api.conftest import KEY

REPORTED = {
    "prompt_tokens": 7,
    "completion_tokens": 30,
    "total_tokens": 37,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 25},
}


class ReasoningUpstream(BaseHTTPRequestHandler):
    """A chat completions upstream whose buffered answer spent 25 of its 30 completion tokens reasoning, as o-series
    models and OpenAI-compatible reasoning servers report it."""

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        answer = {
            "id": "chatcmpl-r",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": REPORTED,
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def reasoning_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ReasoningUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_a_responses_answer_reports_the_reasoning_tokens_the_provider_reported(start, reasoning_upstream):
    """OpenAI reports the reasoning share of output_tokens in output_tokens_details.reasoning_tokens
    (openai/types/responses/response_usage.py), and @ai-sdk/openai 4 (convertOpenAIResponsesUsage) counts its text
    tokens as output_tokens - reasoning_tokens: 25 of the provider's 30 completion tokens were reasoning."""
    base = start(OPENAI_BASE_URL=reasoning_upstream)
    answer = httpx.post(
        f"{base}/responses",
        json={"model": "gpt-4o-mini", "input": "hi"},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    assert answer.status_code == 200
    usage = answer.json()["usage"]
    assert usage["output_tokens"] == 30
    assert usage["output_tokens_details"]["reasoning_tokens"] == 25


def test_a_chat_completion_reports_the_reasoning_tokens_the_provider_reported(start, reasoning_upstream):
    base = start(OPENAI_BASE_URL=reasoning_upstream)
    answer = httpx.post(
        f"{base}/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    assert answer.status_code == 200
    assert answer.json()["usage"]["completion_tokens_details"] == {"reasoning_tokens": 25}
