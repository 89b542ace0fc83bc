"""The local API's own 404 and 502 carry the CORS headers of template.yaml's gateway responses: the first allowed
origin, whatever the request's."""

import pytest
from fastapi.testclient import TestClient

from airelay.settings import get_settings
from local.server import LocalApi


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://app.example.com,https://admin.example.com")
    get_settings.cache_clear()
    yield LocalApi()
    get_settings.cache_clear()


def test_a_404_names_the_first_allowed_origin(api):
    with TestClient(api) as client:
        answer = client.get("/api/chat", headers={"origin": "https://admin.example.com"})
    assert answer.status_code == 404
    assert (answer.headers["access-control-allow-origin"], answer.headers["vary"]) == (
        "https://app.example.com",
        "Origin",
    )


@pytest.mark.upstream_failure
def test_a_502_names_the_first_allowed_origin(api):
    class BrokenContainer:
        async def call(self, event, timeout_s):
            raise RuntimeError("the handler raised")

    api.containers["SentimentFunction"] = BrokenContainer()
    with TestClient(api) as client:
        answer = client.post("/api/sentiment", json={"text": "good"})
    assert answer.status_code == 502 and answer.json()["error"] == {
        "code": "gateway_error",
        "message": "Internal server error",
    }
    assert (answer.headers["access-control-allow-origin"], answer.headers["vary"]) == (
        "https://app.example.com",
        "Origin",
    )
