"""A chat model's upstream client: its aiohttp session serves one event loop, and it sends what the OpenAI SDK would
send from the environment."""

import asyncio

from airelay.providers import registry
from airelay.providers.base import ChatRequest
from airelay.settings import get_settings

from .conftest import CHAT_MODEL


def ask(model) -> str:
    return asyncio.run(model.complete(ChatRequest([{"role": "user", "content": "hi"}], max_tokens=256))).text


def test_a_model_answers_on_a_new_loop_after_the_loop_of_its_first_request_closed(upstream):
    # GIVEN a chat model that answered on a loop now closed (asyncio.run ends its loop)
    model = asyncio.run(registry.chat_model(CHAT_MODEL, get_settings()))
    assert ask(model) == upstream.REPLY_TEXT
    (first,) = model.client.sessions.values()
    # WHEN it is asked on another loop
    answer = ask(model)
    # THEN it answers, through a new session: the first one belonged to the closed loop, and is forgotten
    assert answer == upstream.REPLY_TEXT
    assert list(model.client.sessions.values()) != [first]
    assert len(model.client.sessions) <= 1
    assert len(upstream.requests) == 2


def test_an_openai_model_sends_the_organization_and_project_the_environment_names(upstream, monkeypatch):
    # GIVEN OPENAI_ORG_ID and OPENAI_PROJECT_ID, which the OpenAI SDK would send for its callers
    monkeypatch.setenv("OPENAI_ORG_ID", "org-abc")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_xyz")
    get_settings.cache_clear()
    model = asyncio.run(registry.chat_model(CHAT_MODEL, get_settings()))
    # WHEN the model is asked
    assert ask(model) == upstream.REPLY_TEXT
    # THEN the request carried both, and the key
    (headers,) = upstream.request_headers
    assert headers["openai-organization"] == "org-abc" and headers["openai-project"] == "proj_xyz"
    assert headers["authorization"] == "Bearer sk-test"
