"""SnapStart hooks (airelay/snapstart.py): what a restored environment must not share with the snapshot."""

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import APIRouter

from airelay import snapstart
from airelay.faq import service
from airelay.settings import Settings, get_settings
from airelay.web import create_app
from tests.support import state
from tests.unit.test_faq_service import index_bytes, write

ROOT = Path(__file__).resolve().parents[2]
HOOK_PATHS = {
    "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH": "/_snapstart/before-checkpoint",
    "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH": "/_snapstart/after-restore",
}


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_after_restore_reseeds_random():
    # GIVEN the generator as the snapshot holds it, copied into every environment restored from it
    snapshot = random.getstate()
    copy = random.Random()
    copy.setstate(snapshot)
    # WHEN this environment is restored
    snapstart.after_restore()
    # THEN it draws other numbers than the copy does
    assert [random.random() for _ in range(4)] != [copy.random() for _ in range(4)]


def test_after_restore_reseeds_numpys_global_generator():
    # GIVEN numpy's legacy generator as the snapshot holds it
    snapshot = np.random.get_state()
    copy = np.random.RandomState()
    copy.set_state(snapshot)
    # WHEN this environment is restored THEN numpy draws other numbers than the copy
    snapstart.after_restore()
    assert not np.array_equal(np.random.random_sample(4), copy.random_sample(4))


def test_register_runtime_hooks_is_a_no_op_outside_lambdas_python_runtime(monkeypatch):
    # GIVEN no snapshot_restore_py (it ships inside Lambda's managed Python runtimes only)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    # WHEN a function registers its hooks THEN nothing fails and nothing is registered
    assert snapstart.register_runtime_hooks() is False


def test_a_mangum_function_registers_hooks_that_the_runtime_runs():
    # GIVEN the usage function imported in a fresh interpreter, as Lambda's runtime imports it at INIT
    child = (
        "import json, random, app\n"
        "from snapshot_restore_py import get_after_restore, get_before_snapshot\n"
        "before, after = get_before_snapshot(), get_after_restore()\n"
        "copy = random.Random(); copy.setstate(random.getstate())\n"
        "for func, args, kwargs in reversed(before): func(*args, **kwargs)\n"  # the runtime's order
        "for func, args, kwargs in after: func(*args, **kwargs)\n"
        "print(json.dumps({'before': [f.__name__ for f, _, _ in before], 'after': [f.__name__ for f, _, _ in after],"
        " 'reseeded': random.random() != copy.random()}))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "usage"), str(ROOT / "layers" / "core")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT / "functions" / "usage", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # WHEN the runtime runs what was registered, before the snapshot and after a restore
    ran = json.loads(done.stdout.splitlines()[-1])
    # THEN airelay's hooks were registered once each, and ran
    assert ran == {"before": ["before_snapshot"], "after": ["after_restore"], "reseeded": True}


def test_after_restore_checks_the_faq_index_again_at_once(tmp_path):
    # GIVEN a warm FAQ bot whose index was loaded at INIT, and a newer index stored since, well within the
    # re-check interval as the snapshot's clock counts it
    path = tmp_path / "faq-index.bin"
    write(path, index_bytes("old answer"), 0)
    bot = service.bot_for(Settings(faq_index_url=f"file://{path}", faq_embedding_model="fake/keyed"))
    try:
        assert bot.holder.get().entries[0].answer == "old answer"
        write(path, index_bytes("new answer"), 1_000_000)
        # WHEN the environment is restored
        snapstart.after_restore()
        # THEN the bot serves the newer index without waiting for its next check
        assert bot.holder.index.entries[0].answer == "new answer" and bot.holder.loads == 2
    finally:
        state.forget_bots()


def web_adapter_app(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("API_KEYS", "web=0123456789abcdef")  # every other path needs a key
    get_settings.cache_clear()
    app = create_app(APIRouter())
    return app, snapstart.serve_web_adapter_hooks(app)


def post(app, path: str, method: str = "POST") -> httpx.Response:
    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            return await client.request(method, path)

    return asyncio.run(call())


def test_the_web_adapters_hooks_answer_without_a_key_behind_the_adapter(monkeypatch):
    # GIVEN the chat function's app run by the Lambda Web Adapter with the SnapStart paths set
    app, served = web_adapter_app(monkeypatch, AWS_LAMBDA_EXEC_WRAPPER="/opt/bootstrap", **HOOK_PATHS)
    assert served
    copy = random.Random()
    copy.setstate(random.getstate())
    # WHEN the adapter POSTs to them (no key, no request context: it calls the app itself)
    before = post(app, "/_snapstart/before-checkpoint")
    after = post(app, "/_snapstart/after-restore")
    # THEN both succeed, and the after-restore one reseeded the generator
    assert (before.status_code, after.status_code) == (204, 204)
    assert random.random() != copy.random()
    # AND other methods on those paths are ordinary requests, refused without a key
    assert post(app, "/_snapstart/after-restore", "GET").status_code == 401


@pytest.mark.parametrize(
    "env",
    [
        pytest.param(HOOK_PATHS, id="not-behind-the-adapter"),
        pytest.param({"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap"}, id="no-hook-paths"),
    ],
)
def test_the_hook_paths_are_not_served_elsewhere(monkeypatch, env):
    # GIVEN the app run by anything else than the adapter with the paths set (make dev, tests, a container)
    app, served = web_adapter_app(monkeypatch, **env)
    # WHEN someone POSTs to the paths THEN they are ordinary requests, refused without a key
    assert not served
    assert post(app, HOOK_PATHS["AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"]).status_code == 401
