"""A chat model's client follows the event loop that calls it: its aiohttp session serves one loop."""

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
