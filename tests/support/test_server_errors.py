"""The 5xx guard of the test suite (tests/support/server_errors.py, run by tests/conftest.py) sees what it must."""

import pytest
from fastapi import APIRouter
from starlette.testclient import TestClient

from airelay.errors import ProviderFailed
from airelay.web import create_app
from local.server import LocalApi
from tests.support import server_errors

router = APIRouter()


@router.get("/api/fails")
async def fails():
    raise ProviderFailed()


@router.get("/api/crashes")
async def crashes():
    raise RuntimeError("a bug")


@router.get("/api/works")
async def works():
    return {"ok": True}


@pytest.fixture
def seen():
    """What the guard has recorded in this test (the tests that provoke a 5xx are marked: the hook checks them too)."""
    server_errors.start()
    return server_errors.seen


@pytest.mark.upstream_failure
def test_a_function_apps_5xx_is_recorded_whatever_serves_it(seen):
    with TestClient(create_app(router), raise_server_exceptions=False) as client:
        assert client.get("/api/works").status_code == 200
        assert seen == []
        assert client.get("/api/fails").status_code == 502
        assert client.get("/api/crashes").status_code == 500
    assert seen == ["502 GET /api/fails (function app)", "500 GET /api/crashes (function app)"]


@pytest.mark.upstream_failure
def test_the_local_apis_own_502_is_recorded_when_a_handler_raises(seen):
    class BrokenContainer:
        async def call(self, event, timeout_s):
            raise RuntimeError("the handler raised")

    api = LocalApi()
    api.containers["SentimentFunction"] = BrokenContainer()
    with TestClient(api) as client:
        response = client.post("/api/sentiment", json={"text": "good"})
    assert response.status_code == 502 and response.json()["error"] == {
        "code": "gateway_error",
        "message": "Internal server error",
    }
    assert seen == ["502 POST /api/sentiment (local API)"]


@pytest.mark.upstream_failure
def test_5xx_lines_of_a_watched_access_log_count_from_the_start_of_the_test(seen, tmp_path):
    log = tmp_path / "api.log"
    log.write_text('INFO:     127.0.0.1:5000 - "POST /api/chat HTTP/1.1" 502 Bad Gateway\n')  # an earlier test's
    server_errors.watch_log(log)
    try:
        server_errors.start()
        with log.open("a") as out:
            out.write('INFO:     127.0.0.1:5001 - "GET /api/usage?days=1 HTTP/1.1" 200 OK\n')
            out.write('INFO:     127.0.0.1:5002 - "POST /api/chat/stream HTTP/1.1" 504 Gateway Timeout\n')
        assert server_errors.collect() == ["504 POST /api/chat/stream (process)"]
    finally:
        server_errors.forget_log(log)


def test_the_verdict_fails_an_unmarked_5xx_and_a_mark_without_one():
    found = ["502 POST /api/chat (function app)"]
    assert "upstream_failure" in server_errors.verdict(found, marked=False)
    assert "remove the mark" in server_errors.verdict([], marked=True)
    assert server_errors.verdict(found, marked=True) is None
    assert server_errors.verdict([], marked=False) is None
