"""A SnapStart restore of the chat function: the provider's pooled connection to the model is dropped, the
next answer goes out on a new one. The chat is real (the OpenAI-compatible provider to the fake upstream)."""

import asyncio
import json

import pytest

from airelay import snapstart
from airelay.providers import registry
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container

from .conftest import CHAT_MODEL, load_event


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


def pooled_connections(client) -> int:
    """Connections kept by a chat model's upstream client: its aiohttp sessions (one per event loop, made at the first
    request there) and their connectors' pools (not public API)."""
    return sum(len(kept) for session in client.sessions.values() for kept in session.connector._conns.values())


def answer(container) -> str:
    response = container.invoke(load_event("chat_buffered")).result(timeout=30)
    assert response["statusCode"] == 200, response["body"]
    return json.loads(response["body"])["response"]


def test_a_restore_drops_the_pooled_connection_to_the_model_and_the_next_answer_works(chat_function, upstream):
    # GIVEN a chat function that answered once, so its provider keeps a connection to the model in its pool
    assert answer(chat_function) == upstream.REPLY_TEXT
    model = asyncio.run(registry.chat_model(CHAT_MODEL, get_settings()))
    old_client = model.client
    assert pooled_connections(old_client) == 1
    # WHEN the environment is restored from a snapshot taken then
    snapstart.after_restore()
    # THEN the provider has a new client, same key and upstream, and an empty pool
    assert model.client is not old_client
    assert pooled_connections(model.client) == 0
    assert (model.client.api_key, model.client.base_url) == (old_client.api_key, old_client.base_url)
    # AND the next answer goes out on a new connection
    assert answer(chat_function) == upstream.REPLY_TEXT
    assert pooled_connections(model.client) == 1
    assert len(upstream.requests) == 2
    # AND the replaced client's session was closed by that request, as aiohttp wants its sessions closed
    assert not old_client.sessions
