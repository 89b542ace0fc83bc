"""Chat falls back to the next model when one fails before the first token; each attempt is metered."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from airelay.usage.sqlite import SqliteLedger
from tests.support.upstream import FakeUpstream, ResetMidStream, SlowFirstByte, Status

BODY = {"message": "Say hello.", "max_tokens": 50}


@pytest.fixture
def upstreams():
    with FakeUpstream() as primary, FakeUpstream() as backup:
        yield primary, backup


@pytest.fixture
def api(local_api, upstreams, tmp_path):
    primary, backup = upstreams
    return local_api(
        CHAT_MODEL="openai/gpt-4o-mini",
        OPENAI_BASE_URL=primary.base_url,
        OPENAI_API_KEY="sk-test",
        CHAT_FALLBACK_MODELS="local/smollm2-135m",
        LOCAL_MODEL_BASE_URL=backup.base_url,
        UPSTREAM_TIMEOUT_S=1.5,
        UPSTREAM_MAX_RETRIES=1,
        USAGE_DB_PATH=tmp_path / "usage.sqlite3",
    )


def rows(tmp_path):
    found = SqliteLedger(tmp_path / "usage.sqlite3").rows(datetime.now(UTC).date().isoformat())
    return sorted((r.model, r.status) for r in found)


@pytest.mark.parametrize(
    "failure", [[Status(503)] * 2, [Status(429, retry_after=0)] * 2, [SlowFirstByte(5)] * 2], ids=["5xx", "429", "slow"]
)
@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_a_failing_first_model_falls_back_to_the_next(api, upstreams, tmp_path, failure, path):
    primary, backup = upstreams
    primary.script(*failure)
    response = httpx.post(f"{api}{path}", json=BODY, timeout=15)
    assert response.status_code == 200
    if path == "/api/chat":
        assert response.json()["model"] == "local/smollm2-135m"
    else:
        usage = next(
            json.loads(line[6:])["data"]
            for line in response.text.splitlines()
            if line.startswith("data: {") and '"data-usage"' in line
        )
        assert usage["model"] == "local/smollm2-135m"
    assert len(backup.requests) == 1
    assert rows(tmp_path) == [("local/smollm2-135m", "ok"), ("openai/gpt-4o-mini", "error")]


@pytest.mark.upstream_failure
def test_when_every_model_fails_the_last_error_is_returned(api, upstreams, tmp_path):
    primary, backup = upstreams
    primary.script(*[Status(500)] * 2)
    backup.script(*[Status(503)] * 2)
    response = httpx.post(f"{api}/api/chat", json=BODY, timeout=15)
    assert response.status_code == 503
    assert rows(tmp_path) == [("local/smollm2-135m", "error"), ("openai/gpt-4o-mini", "error")]


def test_after_the_first_token_there_is_no_fallback_but_an_error_part(api, upstreams, tmp_path):
    primary, backup = upstreams
    primary.script(ResetMidStream(after_chunks=4))
    response = httpx.post(f"{api}/api/chat/stream", json=BODY, timeout=15)
    parts = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    assert response.status_code == 200 and parts[-1]["type"] == "error"
    assert not backup.requests
    assert rows(tmp_path) == [("openai/gpt-4o-mini", "error")]


def test_bad_input_never_falls_back(api, upstreams):
    primary, backup = upstreams
    assert httpx.post(f"{api}/api/chat", json={**BODY, "temperature": 9}, timeout=5).status_code == 422
    assert not primary.requests and not backup.requests
