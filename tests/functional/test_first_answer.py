"""What INIT leaves to the first answer: nothing that a warm container would not do again."""

import json
import platform
import subprocess
import sys

from airelay.openai_api import create_openai_app
from airelay.providers import registry
from airelay.providers.base import ChatModel, Embedder
from airelay.providers.local_use import LocalUSEEmbedder
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support import state

from .conftest import load_event


def test_the_chat_functions_first_answer_starts_no_process(upstream, monkeypatch):
    # GIVEN a process that has not asked the platform what it is yet (the standard library keeps the answers)
    for cache, empty in (("_uname_cache", None), ("_platform_cache", {}), ("_os_release_cache", None)):
        monkeypatch.setattr(platform, cache, empty)
    started = []
    popen_init = subprocess.Popen.__init__

    def recorded(self, args, *more, **options):
        started.append(args)
        popen_init(self, args, *more, **options)

    # AND the chat function's INIT done in it (the container makes its app for an empty message, which it refuses
    # without asking the model)
    monkeypatch.delitem(sys.modules, "airelay_function_ChatFunction", raising=False)  # a new container's INIT
    chat_function = Container(find_function("ChatFunction"))
    assert chat_function.invoke(load_event("chat_empty")).result(timeout=30)["statusCode"] in (400, 422)
    monkeypatch.setattr(subprocess.Popen, "__init__", recorded)
    # WHEN the first question is answered
    response = chat_function.invoke(load_event("chat_buffered")).result(timeout=30)
    # THEN it was answered by the model, and no process was started for it (the OpenAI SDK's platform header)
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["response"] == upstream.REPLY_TEXT
    assert started == []


def test_the_openai_function_makes_its_default_chat_model_and_embedder_at_init(upstream, monkeypatch):
    # GIVEN a container with no chat model and no embedder made yet, the local embedder's runs counted
    settings = get_settings()
    assert settings.embedding_models[0] == "local/use-multilingual"
    state.forget_chat_models()
    monkeypatch.delitem(registry._providers, (Embedder, settings.embedding_models[0]), raising=False)
    runs = []
    embed_sync = LocalUSEEmbedder.embed_sync
    monkeypatch.setattr(
        LocalUSEEmbedder, "embed_sync", lambda self, texts: runs.append(texts) or embed_sync(self, texts)
    )
    # WHEN the OpenAI-compatible function's app is made (its INIT)
    create_openai_app()
    # THEN the default model's fallback chain and the first allowed embedder are ready for the first request
    made = set(registry._providers)
    assert {(ChatModel, model_id) for model_id in settings.fallback_chain(settings.chat_model)} <= made
    assert (Embedder, settings.embedding_models[0]) in made
    # AND the in-process embedder has run once (its first run loads what it uses: over a second)
    assert len(runs) == 1
