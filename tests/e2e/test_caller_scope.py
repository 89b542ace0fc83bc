"""What a caller sees of usage, end to end: `make dev`'s server knows callers by their real address, and the demo
page's dashboard shows a caller their own usage and an operator every caller's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.servers import free_port

from .conftest import fake_model_environment
from .stack import CLEARED, ROOT, ApiProcess, run_node

TIMEOUT_S = 30  # generous: a loaded 2-core machine, and the first chat call of a fresh process
OPS_KEY = "ops-key-0123456789abcdef"
WEB_KEY = "web-key-0123456789abcdef"


@pytest.fixture
def dev_server(upstream, tmp_path):
    """`python -m local.dev` (what `make dev` runs) with chat on the fake upstream, so no local model is started."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(fake_model_environment(upstream), USAGE_DB_PATH=str(tmp_path / "usage.sqlite3"), PYTHONUNBUFFERED="1")
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.dev", "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/api/health", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"local.dev did not start:\n{log.read_text()}") from None
            time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def test_make_devs_server_knows_a_caller_by_its_address_not_by_x_forwarded_for(dev_server, upstream):
    spoofed = {"x-forwarded-for": "6.6.6.6"}
    assert (
        httpx.post(f"{dev_server}/api/chat", json={"message": "hi"}, headers=spoofed, timeout=TIMEOUT_S).status_code
        == 200
    )
    report = httpx.get(f"{dev_server}/api/usage", params={"by": "identity"}, headers=spoofed, timeout=TIMEOUT_S).json()
    assert report["budget"]["caller"]["identity"] == "ip:127.0.0.1"
    assert [row["key"] for row in report["rows"]] == ["ip:127.0.0.1"]


@pytest.fixture
def keyed_stack(upstream, tmp_path):
    """The local API with two API keys, one of them an operator's, and a second model a caller may pick."""
    api = ApiProcess(
        tmp_path,
        **fake_model_environment(upstream),
        API_KEYS=f"ops={OPS_KEY},web={WEB_KEY}",
        OPERATOR_KEYS="ops",
        ALLOWED_CHAT_MODELS="openai/gpt-4o",
    )
    yield api.url
    api.stop()


def test_the_dashboard_shows_a_caller_their_own_usage_and_an_operator_everyones(keyed_stack, upstream):
    # GIVEN a chat on the default model with the web key, and one on another model with the operator key
    for key, model in ((WEB_KEY, "openai/gpt-4o-mini"), (OPS_KEY, "openai/gpt-4o")):
        body = {"message": "hi", "model": model}
        assert (
            httpx.post(f"{keyed_stack}/api/chat", json=body, headers={"x-api-key": key}, timeout=TIMEOUT_S).status_code
            == 200
        )
    # WHEN the demo page is opened with each key
    web = run_node(["tests/e2e/browser/demo.mjs", "dashboard-scope"], env={"BASE_URL": keyed_stack, "API_KEY": WEB_KEY})
    ops = run_node(["tests/e2e/browser/demo.mjs", "dashboard-scope"], env={"BASE_URL": keyed_stack, "API_KEY": OPS_KEY})
    # THEN the web key's dashboard shows its own call, model and budget; the operator's every call and the global budget
    assert (web["scope"], web["calls"], web["models"], web["limit"]) == ("caller", 1, ["openai/gpt-4o-mini"], "$1.00")
    assert web["caller"] == "Your own usage (ip:127.0.0.1@web)"
    assert (web["kinds"], web["top"], web["topShown"]) == (["ip"], [], False)  # only its own kind, no one else's
    assert (ops["scope"], ops["calls"], ops["limit"]) == ("all", 2, "$10.00")
    assert sorted(ops["models"]) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert ops["caller"].startswith("Every caller (operator view) · you (key:ops)")
    # AND the operator sees each kind of caller and today's top callers
    assert sorted(ops["kinds"]) == ["ip", "key"] and ops["topShown"]
    assert sorted(ops["top"]) == ["ip:127.0.0.1@web", "key:ops"]
