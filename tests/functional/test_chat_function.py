"""ChatFunction's handler, called with the API Gateway events in events/; chat goes through the real
OpenAI-compatible provider to the fake upstream (tests/support/upstream), whose faults stand in for a failing one."""

import json
from datetime import UTC, datetime

import pytest

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support.upstream import (
    FakeUpstream,
    MalformedChunk,
    Ok,
    ResetMidStream,
    SlowFirstByte,
    StallMidStream,
    Status,
)

from .conftest import CHAT_MODEL, load_event, upstream_prompt_tokens

STREAM_ERRORS = {
    "reset": (ResetMidStream(after_chunks=2), "The model provider's stream broke off."),
    "malformed-then-close": (MalformedChunk(after_chunks=2, then="close"), "sent a malformed response"),
    "malformed-then-continue": (MalformedChunk(after_chunks=2, then="continue"), "sent a malformed response"),
    "stall": (StallMidStream(after_chunks=2, seconds=30), "did not answer in time"),  # STREAM_IDLE_TIMEOUT_S=1
}


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


def invoke(container, event_name):
    response = container.invoke(load_event(event_name)).result(timeout=30)
    return response["statusCode"], response["headers"], response["body"]


def sse_parts(body):
    events = [e.removeprefix("data: ") for e in body.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def usage_rows():
    return SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())


def test_buffered_chat_answers_with_the_seed_fields(chat_function, upstream):
    status, headers, body = invoke(chat_function, "chat_buffered")
    data = json.loads(body)
    assert status == 200, data
    # THEN the upstream's answer and its own usage come back, as the provider reported them
    assert data["response"] == upstream.REPLY_TEXT
    prompt_tokens = upstream_prompt_tokens(upstream.requests[-1]["messages"])
    assert data["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 20,
        "cached_tokens": 0,
        "estimated": False,
    }
    assert data["tokens_used"] == prompt_tokens + 20 and data["finish_reason"] == "stop" and data["model"] == CHAT_MODEL
    assert headers["x-request-id"] == load_event("chat_buffered")["requestContext"]["requestId"]
    # AND the provider asked for the configured model by its own name, with the server's system prompt first
    sent = upstream.requests[-1]
    assert sent["model"] == "gpt-4o-mini" and sent["messages"][0]["role"] == "system" and not sent.get("stream")
    assert sent["messages"][-1] == {"role": "user", "content": "Say hello in five words."}
    assert upstream.request_headers[-1]["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("event", ["chat_stream", "chat_stream_usechat"])
def test_stream_event_gets_a_ui_message_stream(chat_function, upstream, event):
    status, headers, body = invoke(chat_function, event)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    parts = sse_parts(body)
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == upstream.REPLY_TEXT
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    metadata = {k: usage[k] for k in ("model", "inputTokens", "outputTokens", "costUsd")}
    assert parts[-1] == {"type": "finish", "finishReason": "stop", "messageMetadata": {**metadata, "steps": 1}}
    assert usage["inputTokens"] == upstream_prompt_tokens(upstream.requests[-1]["messages"])
    assert usage["outputTokens"] == 20 and usage["estimated"] is False
    assert upstream.requests[-1]["stream"] is True and upstream.requests[-1]["stream_options"] == {
        "include_usage": True
    }


def test_usechat_history_reaches_the_model_without_client_system_messages(chat_function, upstream):
    invoke(chat_function, "chat_stream_usechat")
    messages = upstream.requests[-1]["messages"]
    roles = [m["role"] for m in messages]
    assert roles[0] == "system" and roles.count("system") == 1 and roles[-1] == "user"
    assert messages[-1]["content"] == "Hello!"


@pytest.mark.parametrize(
    "event,status,code",
    [
        ("chat_bad_temperature", 422, "invalid_input"),
        ("chat_system_history", 422, "invalid_input"),
        ("chat_empty", 422, "invalid_input"),
        ("chat_not_json", 400, "malformed_request"),
    ],
)
def test_bad_input_gets_a_clear_4xx(chat_function, upstream, event, status, code):
    got, _headers, body = invoke(chat_function, event)
    assert got == status
    error = json.loads(body)["error"]
    assert error["code"] == code and len(error["message"]) < 200 and "Traceback" not in error["message"]
    assert not upstream.requests


def test_a_rate_limit_before_the_first_token_is_a_429_with_the_providers_retry_after(chat_function, upstream):
    upstream.script(Status(429, retry_after=7))
    status, headers, body = invoke(chat_function, "chat_stream")
    assert status == 429 and headers["retry-after"] == "7"
    assert json.loads(body)["error"]["code"] == "rate_limited"
    assert upstream.SECRET_MARKER not in body


@pytest.mark.upstream_failure
@pytest.mark.parametrize(
    "behaviour,status,code",
    [
        (Status(500), 502, "provider_failed"),
        (Status(401), 502, "provider_failed"),
        (Status(503), 503, "provider_unavailable"),
    ],
)
@pytest.mark.parametrize("event", ["chat_buffered", "chat_stream"])
def test_a_provider_failure_before_the_first_token_is_a_safe_5xx(
    chat_function, upstream, event, behaviour, status, code
):
    upstream.script(behaviour)
    got, _, body = invoke(chat_function, event)
    assert got == status
    assert json.loads(body)["error"]["code"] == code
    assert upstream.SECRET_MARKER not in body and "sk-test" not in body
    [row] = usage_rows()
    assert row.status == "error" and row.cost_usd == 0


@pytest.mark.upstream_failure
def test_a_provider_that_sends_nothing_in_time_is_a_504(chat_function, upstream, monkeypatch):
    monkeypatch.setenv("UPSTREAM_TIMEOUT_S", "1")
    get_settings.cache_clear()
    upstream.script(SlowFirstByte(30))
    status, _, body = invoke(chat_function, "chat_stream")
    assert status == 504 and json.loads(body)["error"]["code"] == "provider_timeout"
    assert upstream.wait_closed(timeout=10)  # the upstream request was given up, not left open


@pytest.mark.parametrize("fault", STREAM_ERRORS)
def test_failure_after_the_first_token_is_an_error_part_and_a_usage_row(chat_function, upstream, fault):
    behaviour, message = STREAM_ERRORS[fault]
    upstream.script(behaviour)
    status, _, body = invoke(chat_function, "chat_stream")
    parts = sse_parts(body)
    # THEN the 200 stream carries the text sent so far, then an error part, never a finish
    assert status == 200
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == FakeUpstream.reply_text(2)
    assert parts[-1]["type"] == "error" and message in parts[-1]["errorText"]
    assert not any(p["type"] == "finish" for p in parts)
    assert upstream.SECRET_MARKER not in body
    # AND the tokens are counted from what was sent, and filed as an error
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    assert usage["estimated"] is True and usage["outputTokens"] >= 1
    [row] = usage_rows()
    assert (row.status, row.estimated, row.completion_tokens) == ("error", True, usage["outputTokens"])


def test_a_stream_past_stream_deadline_s_ends_with_an_error_part_and_a_usage_row(chat_function, upstream, monkeypatch):
    # GIVEN a 1 s stream deadline and an upstream that keeps sending, one chunk every 0.2 s (20 chunks: 4 s)
    monkeypatch.setenv("STREAM_DEADLINE_S", "1")
    get_settings.cache_clear()
    upstream.script(Ok(chunk_delay_s=0.2))
    # WHEN a stream is asked for
    status, _, body = invoke(chat_function, "chat_stream")
    parts = sse_parts(body)
    # THEN it ends at the deadline with an error part after part of the text, not with a finish
    assert status == 200
    text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    assert text and upstream.REPLY_TEXT.startswith(text) and text != upstream.REPLY_TEXT
    assert parts[-1] == {"type": "error", "errorText": "The answer took longer than the server's deadline."}
    assert not any(p["type"] == "finish" for p in parts)
    # AND the upstream request is closed, and the call is filed as an error with its estimated tokens
    assert upstream.wait_closed(timeout=10)
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    [row] = usage_rows()
    assert (row.status, row.estimated, row.completion_tokens) == ("error", True, usage["outputTokens"])
    assert row.completion_tokens >= 1 and row.cost_usd > 0


def test_preflight_from_a_listed_origin_echoes_it(chat_function, upstream):
    status, headers, _ = invoke(chat_function, "chat_preflight")
    assert status == 200  # Starlette's CORSMiddleware (API Gateway answers preflights itself, with 204)
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"]
    assert not upstream.requests


def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(chat_function, upstream):
    status, headers, _ = invoke(chat_function, "chat_preflight_unlisted")
    assert status == 400  # Starlette's CORSMiddleware: "Disallowed CORS origin"
    assert "access-control-allow-origin" not in headers


def test_answers_carry_cors_headers_for_the_calling_origin(chat_function, upstream):
    _, headers, _ = invoke(chat_function, "chat_buffered")
    assert headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert "x-request-id" in headers["access-control-expose-headers"]
