"""ChatFunction's handler, called with the API Gateway events in events/, and a scripted model."""

import json

import pytest

from airelay.errors import ProviderFailed, ProviderRateLimited
from airelay.providers import registry
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.fakes import ScriptedChatModel

from .conftest import load_event


@pytest.fixture
def model():
    fake = ScriptedChatModel(get_settings().chat_model)
    registry.install(fake)
    return fake


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


def test_buffered_chat_answers_with_the_seed_fields(chat_function, model):
    status, headers, body = invoke(chat_function, "chat_buffered")
    data = json.loads(body)
    assert status == 200
    assert data["response"] == "Hello, world!"
    assert data["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "cached_tokens": 2, "estimated": False}
    assert data["tokens_used"] == 14 and data["finish_reason"] == "stop" and data["model"] == model.model_id
    assert headers["x-request-id"] == load_event("chat_buffered")["requestContext"]["requestId"]


@pytest.mark.parametrize("event", ["chat_stream", "chat_stream_usechat"])
def test_stream_event_gets_a_ui_message_stream(chat_function, model, event):
    status, headers, body = invoke(chat_function, event)
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    parts = sse_parts(body)
    assert "".join(p["delta"] for p in parts if p["type"] == "text-delta") == "Hello, world!"
    assert parts[-1] == {"type": "finish", "finishReason": "stop"}
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    assert usage["inputTokens"] == 10 and usage["outputTokens"] == 4


def test_usechat_history_reaches_the_model_without_client_system_messages(chat_function, model):
    invoke(chat_function, "chat_stream_usechat")
    roles = [m["role"] for m in model.requests[-1].messages]
    assert roles[0] == "system" and roles.count("system") == 1 and roles[-1] == "user"


@pytest.mark.parametrize(
    "event,status,code",
    [
        ("chat_bad_temperature", 422, "invalid_input"),
        ("chat_system_history", 422, "invalid_input"),
        ("chat_empty", 422, "invalid_input"),
        ("chat_not_json", 400, "malformed_request"),
    ],
)
def test_bad_input_gets_a_clear_4xx(chat_function, model, event, status, code):
    got, _headers, body = invoke(chat_function, event)
    assert got == status
    error = json.loads(body)["error"]
    assert error["code"] == code and len(error["message"]) < 200 and "Traceback" not in error["message"]
    assert not model.requests


def test_failure_before_the_first_token_is_an_http_status(chat_function):
    registry.install(ScriptedChatModel(get_settings().chat_model, fail_before=ProviderRateLimited(retry_after=7)))
    status, headers, body = invoke(chat_function, "chat_stream")
    assert status == 429 and headers["retry-after"] == "7"
    assert json.loads(body)["error"]["code"] == "rate_limited"


def test_failure_after_the_first_token_is_an_error_part(chat_function):
    fake = ScriptedChatModel(get_settings().chat_model, fail_after=2, error=ProviderFailed("broke off"))
    registry.install(fake)
    status, _, body = invoke(chat_function, "chat_stream")
    parts = sse_parts(body)
    assert status == 200
    assert parts[-1] == {"type": "error", "errorText": "broke off"}
    assert not any(p["type"] == "finish" for p in parts)
    assert fake.closed == 1
    usage = next(p["data"] for p in parts if p["type"] == "data-usage")
    assert usage["estimated"] is True and usage["outputTokens"] >= 1


def test_preflight_from_a_listed_origin_echoes_it(chat_function, model):
    status, headers, _ = invoke(chat_function, "chat_preflight")
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"]


def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(chat_function, model):
    status, headers, _ = invoke(chat_function, "chat_preflight_unlisted")
    assert status == 403
    assert "access-control-allow-origin" not in headers


def test_answers_carry_cors_headers_for_the_calling_origin(chat_function, model):
    _, headers, _ = invoke(chat_function, "chat_buffered")
    assert headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert "x-request-id" in headers["access-control-expose-headers"]
