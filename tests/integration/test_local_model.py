"""Chat through the local API against the real llama.cpp OpenAI-compatible server running SmolLM2-135M."""

import json

import httpx
import pytest

from local import model_server
from tests.support.servers import free_port


@pytest.fixture(scope="module")
def model_url():
    port = free_port()
    process = model_server.start(port)  # fails with instructions if `make model-server` has not run
    yield f"http://127.0.0.1:{port}/v1"
    model_server.stop(process)


@pytest.fixture
def api(local_api, model_url):
    return local_api(CHAT_MODEL="local/smollm2-135m", LOCAL_MODEL_BASE_URL=model_url)


def test_buffered_chat_reports_the_models_own_usage(api):
    response = httpx.post(
        f"{api}/api/chat", json={"message": "Name three colours.", "max_tokens": 24, "temperature": 0}, timeout=60
    )
    data = response.json()
    assert response.status_code == 200, data
    assert data["response"].strip()
    assert data["model"] == "local/smollm2-135m"
    assert data["usage"]["prompt_tokens"] > 10 and 0 < data["usage"]["completion_tokens"] <= 24
    assert data["usage"]["estimated"] is False
    assert data["tokens_used"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    assert data["finish_reason"] in ("stop", "length")


def test_stream_arrives_part_by_part_with_counted_usage(api):
    # (that text reaches the client while the model is still generating is shown against a fake upstream that holds
    # the rest of its answer: test_chat_faults.py, test_text_reaches_the_client_while_the_upstream_still_holds_the_rest)
    body = {"message": "Write a short story about a robot.", "max_tokens": 64, "temperature": 0}
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=60) as response:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    parts = [json.loads(event) for event in events[:-1]]
    deltas = [p["delta"] for p in parts if p["type"] == "text-delta"]
    assert len(deltas) > 5 and "".join(deltas).strip()
    assert parts[-1]["type"] == "finish" and parts[-1]["finishReason"] in ("stop", "length")
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    assert usage["inputTokens"] > 10 and usage["outputTokens"] > 0
    assert usage["estimated"] is True  # llama.cpp streams send no usage: counted by airelay


def test_usechat_body_streams_from_the_local_model(api):
    body = {
        "id": "c1",
        "trigger": "submit-message",
        "max_tokens": 16,
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello!"}]}],
    }
    with httpx.stream("POST", f"{api}/api/chat/stream", json=body, timeout=60) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert response.status_code == 200
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[-2].removeprefix("data: "))["type"] == "finish"
