"""CORS in a real browser: a page served from a second local origin (http://localhost:PORT2) calls the API on
http://127.0.0.1:PORT. With the page's origin in ALLOWED_ORIGINS its fetches work (a simple GET and a streamed
POST, which needs a preflight); without it the browser refuses both and the chat POST never reaches the server."""

from __future__ import annotations

import pytest

from tests.support.servers import ServerThread

from .conftest import fake_model_environment
from .stack import ApiProcess, run_node

PAGE = b"""<!doctype html><meta charset="utf-8"><title>another origin</title>
<script type="module">
const api = new URLSearchParams(location.search).get('api');
const results = {};
async function attempt(name, call) {
  try { results[name] = await call(); }
  catch (error) { results[name] = { rejected: `${error.name}: ${error.message}` }; }
}
await attempt('usage', async () => {
  const response = await fetch(`${api}/api/usage?days=1`);
  return { status: response.status, by: (await response.json()).by };
});
await attempt('stream', async () => {
  const response = await fetch(`${api}/api/chat/stream`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: 'Say hello.' }),
  });
  return { status: response.status, done: (await response.text()).includes('data: [DONE]') };
});
window.__results = results;
</script>"""


async def page_app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": PAGE})


@pytest.fixture(scope="module")
def page_origin():
    with ServerThread(page_app) as server:
        yield f"http://localhost:{server.port}"


@pytest.fixture
def api_with_origins(fake_upstream, tmp_path):
    started = []

    def start(origins: str) -> str:
        api = ApiProcess(tmp_path, **fake_model_environment(fake_upstream, ALLOWED_ORIGINS=origins))
        started.append(api)
        return api.url

    yield start
    for api in started:
        api.stop()


def open_page(page_origin: str, api: str) -> dict:
    return run_node(["tests/e2e/browser/cors.mjs"], env={"PAGE_URL": f"{page_origin}/?api={api}"})


def test_an_allowed_origin_can_call_the_api(page_origin, api_with_origins, upstream):
    api = api_with_origins(f"http://localhost:5173,{page_origin}")
    results = open_page(page_origin, api)
    assert results["usage"] == {"status": 200, "by": "day"}
    assert results["stream"] == {"status": 200, "done": True}
    assert len(upstream.requests) == 1


def test_a_disallowed_origin_is_refused_by_the_browser(page_origin, api_with_origins, upstream):
    api = api_with_origins("http://localhost:5173")
    results = open_page(page_origin, api)
    assert results["usage"]["rejected"].startswith("TypeError")
    assert results["stream"]["rejected"].startswith("TypeError")
    assert not upstream.requests  # the preflight was refused: the chat POST was never sent
