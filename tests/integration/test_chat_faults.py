"""Chat through the local API against a fault-injecting OpenAI-compatible upstream on 127.0.0.1."""

import json
import time

import httpx
import pytest

from tests.support.upstream import (
    FakeUpstream,
    MalformedChunk,
    Ok,
    ResetMidStream,
    SlowFirstByte,
    StallMidStream,
    Status,
)

BODY = {"message": "Say hello."}
UPSTREAM_TIMEOUT_S = 2
STREAM_IDLE_TIMEOUT_S = 1
SETTLED_S = 10  # how long a poll waits for what happens right after a response (a row settled, a connection closed)


@pytest.fixture
def upstream():
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def api(local_api, upstream):
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=UPSTREAM_TIMEOUT_S,
        STREAM_IDLE_TIMEOUT_S=STREAM_IDLE_TIMEOUT_S,
        UPSTREAM_MAX_RETRIES=2,
    )


def rows_when_settled(db_path, count=1):
    """The day's usage rows once `count` are there (a stream settles just after its last byte), or at SETTLED_S."""
    from datetime import UTC, datetime

    from airelay.usage.sqlite import SqliteLedger

    deadline = time.monotonic() + SETTLED_S
    while True:
        rows = SqliteLedger(db_path).rows(datetime.now(UTC).date().isoformat())
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def stream_parts(response):
    parts = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            parts.append(data if data == "[DONE]" else json.loads(data))
    return parts


def assert_safe(text, upstream):
    assert upstream.SECRET_MARKER not in text and "sk-test" not in text and "Traceback" not in text


def test_buffered_answer_is_relayed_with_upstream_usage(api, upstream):
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=10)
    data = response.json()
    assert response.status_code == 200
    assert data["response"] == upstream.REPLY_TEXT
    assert data["usage"]["completion_tokens"] == 20 and data["usage"]["estimated"] is False
    assert upstream.requests[-1]["model"] == "gpt-4o-mini"
    assert upstream.requests[-1]["messages"][0]["role"] == "system"


def test_streamed_answer_is_exact_and_ends_with_finish(api, upstream):
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=10) as response:
        parts = stream_parts(response)
    assert response.status_code == 200
    assert parts[-1] == "[DONE]" and parts[-2]["type"] == "finish" and parts[-2]["finishReason"] == "stop"
    assert "".join(p["delta"] for p in parts[:-1] if p["type"] == "text-delta") == upstream.REPLY_TEXT
    usage = next(p["data"] for p in parts[:-1] if p["type"] == "data-usage")
    assert usage["outputTokens"] == 20 and usage["estimated"] is False
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_429_with_retry_after_then_success_is_a_200(api, upstream, path):
    upstream.script(Status(429, retry_after=1), "ok")
    response = httpx.post(f"{api}{path}", json=BODY, timeout=10)
    assert response.status_code == 200
    assert len(upstream.requests) == 2


@pytest.mark.upstream_failure
@pytest.mark.parametrize("status,expected", [(500, 502), (502, 502), (503, 503)])
@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_persistent_5xx_is_a_safe_502_or_503(api, upstream, status, expected, path):
    upstream.script(*[Status(status)] * 3)
    response = httpx.post(f"{api}{path}", json=BODY, timeout=15)
    assert response.status_code == expected
    assert response.json()["error"]["code"] in ("provider_failed", "provider_unavailable")
    assert_safe(response.text, upstream)
    assert len(upstream.requests) == 3  # the SDK's own retries, no second loop


def test_persistent_429_is_a_429_with_retry_after(local_api, upstream):
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=6,
    )  # room for the SDK's two retries after 1 s each
    upstream.script(*[Status(429, retry_after=1)] * 3)
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=15)
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert_safe(response.text, upstream)


@pytest.mark.upstream_failure
def test_rejected_key_is_a_safe_502(api, upstream):
    upstream.script(Status(401))
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=10)
    assert response.status_code == 502
    assert_safe(response.text, upstream)


@pytest.mark.upstream_failure
@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_slow_upstream_is_a_504_within_the_deadline(local_api, upstream, path):
    # GIVEN a 2 s deadline, where the SDK alone would wait 10 s for a stream's first byte and try three times
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=UPSTREAM_TIMEOUT_S,
        STREAM_IDLE_TIMEOUT_S=10,
        UPSTREAM_MAX_RETRIES=2,
    )
    upstream.script(*[SlowFirstByte(60)] * 3)
    started = time.monotonic()
    response = httpx.post(f"{api}{path}", json=BODY, timeout=60)
    elapsed = time.monotonic() - started
    # THEN the answer is a 504 at the deadline (without it: 3 x 2 s buffered, 3 x 10 s streamed, plus backoff)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "provider_timeout"
    assert UPSTREAM_TIMEOUT_S <= elapsed < 2 * UPSTREAM_TIMEOUT_S


@pytest.mark.parametrize(
    "behaviour",
    [
        ResetMidStream(after_chunks=5),
        StallMidStream(after_chunks=5, seconds=20),
        MalformedChunk(after_chunks=3, then="close"),
    ],
)
def test_stream_cut_midway_ends_with_an_error_part_not_a_finish(api, upstream, behaviour):
    upstream.script(behaviour)
    started = time.monotonic()
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=15) as response:
        parts = stream_parts(response)
    assert response.status_code == 200
    assert time.monotonic() - started < 5 * STREAM_IDLE_TIMEOUT_S  # the idle timeout cuts a 20 s stall
    objects = [p for p in parts if p != "[DONE]"]
    assert objects[-1]["type"] == "error"
    assert not any(p["type"] == "finish" for p in objects)
    assert any(p["type"] == "text-delta" for p in objects)
    usage = next(p["data"] for p in objects if p["type"] == "data-usage")
    assert usage["estimated"] is True and usage["outputTokens"] > 0
    assert_safe(json.dumps(parts), upstream)


def test_client_disconnect_closes_the_upstream(api, upstream):
    upstream.script(Ok(chunk_delay_s=0.2))
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=10) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                break  # leave after the first token
    assert upstream.wait_closed(timeout=SETTLED_S)


def test_client_disconnect_during_a_stall_closes_the_upstream(api, upstream):
    upstream.script(StallMidStream(after_chunks=2, seconds=20))
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=10) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                break
    assert upstream.wait_closed(timeout=SETTLED_S)


def test_text_reaches_the_client_while_the_upstream_still_holds_the_rest(local_api, upstream):
    # GIVEN an upstream that sends three chunks and then holds the rest for 60 s, and a server that would wait for it
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        STREAM_IDLE_TIMEOUT_S=60,
    )
    upstream.script(StallMidStream(after_chunks=3, seconds=60))
    text = ""
    # WHEN a client reads the stream (giving up after 30 s, before the stall ends)
    with httpx.stream("POST", f"{api}/api/chat/stream", json=BODY, timeout=30) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                text += json.loads(line.removeprefix("data: "))["delta"]
                if text == upstream.reply_text(3):
                    break
    # THEN it had the three chunks' text during the stall: the relay passes text on as it comes, it does not buffer
    assert text == upstream.reply_text(3)
    assert upstream.wait_closed(timeout=SETTLED_S)


def test_api_keys_when_required_refuse_callers_without_a_valid_key(local_api, upstream, tmp_path):
    key = "k-0123456789abcdef"
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        API_KEYS=f"web-app={key}",
    )
    # as API Gateway answers: no x-api-key (the authorizer's identity source) is a 401, a key the usage plan does not
    # hold a 403, both in template.yaml's DEFAULT_4XX shape
    for headers, status in (({}, 401), ({"x-api-key": "wrong-key-wrong-key"}, 403), ({"x-api-key": key[:-1]}, 403)):
        response = httpx.post(f"{api}/api/chat", json=BODY, headers=headers, timeout=10)
        assert response.status_code == status
        assert response.json()["error"]["code"] == "request_rejected"
    assert not upstream.requests
    preflight = httpx.options(
        f"{api}/api/chat", headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"}
    )
    assert preflight.status_code == 204
    assert httpx.post(f"{api}/api/chat", json=BODY, headers={"x-api-key": key}, timeout=10).status_code == 200
    report = httpx.get(f"{api}/api/usage", headers={"x-api-key": key}, params={"by": "identity"}, timeout=10).json()
    assert [row["key"] for row in report["rows"]] == ["ip:127.0.0.1@web-app"]


FAULTS = {
    "429-storm": ([Status(429, retry_after=1)] * 3, "/api/chat", 429),
    "5xx": ([Status(502)] * 3, "/api/chat/stream", 502),
    "slow-first-byte": ([SlowFirstByte(10)] * 3, "/api/chat/stream", 504),
    "stall": ([StallMidStream(after_chunks=5, seconds=20)], "/api/chat/stream", 200),
    "reset": ([ResetMidStream(after_chunks=5)], "/api/chat/stream", 200),
    "malformed": ([MalformedChunk(after_chunks=3, then="continue")], "/api/chat/stream", 200),
}


@pytest.fixture
def server_errors():
    """Records what the server logs at ERROR (an unhandled exception is logged there by the middleware)."""
    import logging

    records = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    logger = logging.getLogger("airelay")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "fault", [pytest.param(f, marks=[pytest.mark.upstream_failure] if FAULTS[f][2] >= 500 else []) for f in FAULTS]
)
def test_every_fault_ends_cleanly_in_time_with_one_usage_row(local_api, upstream, tmp_path, server_errors, fault):
    behaviours, path, status = FAULTS[fault]
    api = local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-test",
        UPSTREAM_TIMEOUT_S=UPSTREAM_TIMEOUT_S,
        STREAM_IDLE_TIMEOUT_S=STREAM_IDLE_TIMEOUT_S,
        UPSTREAM_MAX_RETRIES=2,
    )
    upstream.script(*behaviours)
    started = time.monotonic()
    response = httpx.post(f"{api}{path}", json=BODY, timeout=20)
    elapsed = time.monotonic() - started
    assert response.status_code == status
    # within the deadlines, with room for a busy machine (the storm waits out Retry-After: 1 s, twice)
    assert elapsed < (3 if fault == "429-storm" else 2) * UPSTREAM_TIMEOUT_S
    if status == 200:
        assert '"type":"error"' in response.text and '"type":"finish"' not in response.text
    else:
        assert response.json()["error"]["code"]
    assert_safe(response.text, upstream)
    rows = rows_when_settled(tmp_path / "usage.sqlite3")
    assert [r.status for r in rows] == ["error"]
    assert not server_errors, [r.getMessage() for r in server_errors]
