"""The SnapStart restore's calls to AWS run in a thread waited for at most RESTORE_WAIT_S: whatever becomes of them
(a failure, or an answer after the hook stopped waiting), no request calls a model with the snapshot's key when SSM
holds another."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from botocore.exceptions import CredentialRetrievalError

from airelay import aws, snapstart
from airelay.providers import registry
from airelay.settings import get_settings
from tests.support import state

PARAM = "/airelay/openai-api-key"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def key_in_ssm(monkeypatch):
    """A chat provider built at INIT with its key read from SSM ("sk-at-init"); SSM holds "sk-rotated" afterwards."""
    for name in ("OPENAI_API_KEY", "CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY_PARAM", PARAM)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    state.forget_chat_models()
    monkeypatch.setattr(registry, "_keys_stale", False)
    held = {"value": "sk-at-init"}
    monkeypatch.setattr(aws, "parameter", lambda name: held["value"])
    model = asyncio.run(registry.chat_model(MODEL, get_settings()))
    assert model.client.api_key == "sk-at-init"
    yield held
    for thread in [t for t in threading.enumerate() if t.name == "airelay-restore"]:
        thread.join(timeout=10)
    get_settings.cache_clear()
    state.forget_chat_models()
    registry._retired.clear()


def test_a_failure_before_the_key_read_leaves_the_snapshot_key_for_good(key_in_ssm, monkeypatch):
    # GIVEN an environment restored days after its snapshot, the key rotated since (and SSM answering)
    snapstart.before_snapshot()
    monkeypatch.setattr(snapstart, "_aws_services", ("ssm", "dynamodb"))  # the clients INIT had made
    key_in_ssm["value"] = "sk-rotated"

    # WHEN remaking the AWS clients fails at the restore (credentials resolved anew from the container endpoint,
    # which did not answer this once): the thread logs it and the hook returns
    def no_credentials(*services):
        raise CredentialRetrievalError(provider="container-role", error_msg="timed out")

    monkeypatch.setattr(aws, "prepare", no_credentials)
    snapstart.after_restore()

    # THEN the next request reads the key itself: the snapshot's (possibly revoked) one is not kept for good
    for _ in range(2):
        model = asyncio.run(registry.chat_model(MODEL, get_settings()))
    assert model.client.api_key == "sk-rotated", "a swallowed restore failure left the snapshot's key in use for good"


def test_a_request_while_the_restore_still_reads_the_key_uses_the_snapshot_key(key_in_ssm, monkeypatch):
    # GIVEN an environment restored while SSM is slow: it answers, with the rotated key, only after the hook
    # stopped waiting for it (7 s on Lambda, 0.2 s here)
    snapstart.before_snapshot()
    key_in_ssm["value"] = "sk-rotated"

    def slow(name):
        time.sleep(1.0)
        return key_in_ssm["value"]

    monkeypatch.setattr(aws, "parameter", slow)
    monkeypatch.setattr(snapstart, "RESTORE_WAIT_S", 0.2)
    snapstart.after_restore()

    # WHEN the first request comes while the restore's read is still running
    model = asyncio.run(registry.chat_model(MODEL, get_settings()))

    # THEN it reads the key for itself rather than call the model with the snapshot's
    assert model.client.api_key == "sk-rotated", "the first request after the restore used the snapshot's key"
