"""An OpenAI embedder's client follows the event loop that calls it, as a chat model's does: a connection pool serves
one loop, and the local API runs the FAQ function and /v1/embeddings on loops of their own."""

import asyncio
import gc
import json
import threading

import pytest

from airelay.providers.openai_embed import OpenAIEmbedder
from airelay.settings import get_settings
from tests.support.servers import ServerThread, read_body

DIM = 1536


async def embeddings_app(scope, receive, send) -> None:
    """An OpenAI-compatible embeddings endpoint: one vector and one token per input."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    texts = json.loads(body)["input"]
    data = [{"object": "embedding", "index": i, "embedding": [1.0] + [0.0] * (DIM - 1)} for i in range(len(texts))]
    usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
    raw = json.dumps({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


@pytest.fixture
def model():
    with ServerThread(embeddings_app) as server:
        settings = get_settings()
        settings = type(settings)(
            **{**settings.__dict__, "openai_base_url": f"{server.url}/v1", "upstream_max_retries": 0}
        )
        yield OpenAIEmbedder.from_settings("openai/text-embedding-3-small", settings, "sk-test")


def test_one_embedder_serves_two_live_event_loops(model):
    """Embedding on one loop, then on another while the first is still open: both answer (the second through a
    client of its own), not a failure from the first loop's pooled connection."""
    shapes, errors = [], []
    first_done, second_done = threading.Event(), threading.Event()

    def first_loop():
        loop = asyncio.new_event_loop()
        try:
            shapes.append(loop.run_until_complete(model.embed(["hello"])).vectors.shape)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            first_done.set()
            second_done.wait(30)
            loop.close()

    thread = threading.Thread(target=first_loop)
    thread.start()
    first_done.wait(30)
    try:
        shapes.append(asyncio.run(asyncio.wait_for(model.embed(["hello"]), 10)).vectors.shape)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        second_done.set()
        thread.join(30)
    assert (shapes, errors) == ([(1, DIM), (1, DIM)], [])


def test_an_embedder_answers_on_a_new_loop_after_the_loop_of_its_first_request_closed(model):
    """A loop after the first one closed (asyncio.run ends its loop) gets a new client: the first one's pool
    belonged to the closed loop."""
    assert asyncio.run(model.embed(["hello"])).vectors.shape == (1, DIM)
    first = model.client
    assert asyncio.run(model.embed(["hello"])).vectors.shape == (1, DIM)
    assert model.client is not first


def test_an_embedder_keeps_no_client_for_each_closed_event_loop():
    """A long-lived process (the local API) whose first loop stays open while every later request runs on a loop of
    its own that is then closed (asyncio.run): the embedder keeps a client for the live loops (and the last one closed, until a next loop comes), not one per
    closed loop forever (each holds its loop and its pooled connection: memory and sockets grow with every request).
    HuggingFaceClient.loop_http prunes the clients of closed loops; OpenAIEmbedder.loop_client never does."""
    with ServerThread(embeddings_app) as server:
        settings = get_settings()
        settings = type(settings)(
            **{**settings.__dict__, "openai_base_url": f"{server.url}/v1", "upstream_max_retries": 0}
        )
        model = OpenAIEmbedder.from_settings("openai/text-embedding-3-small", settings, "sk-test")
        first_done, release = threading.Event(), threading.Event()

        def long_lived_loop():
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(model.embed(["hello"]))
            finally:
                first_done.set()
                release.wait(60)
                loop.close()

        thread = threading.Thread(target=long_lived_loop)
        thread.start()
        first_done.wait(30)
        try:
            for _ in range(12):  # a request per new loop, each loop closed when its request ends
                assert asyncio.run(asyncio.wait_for(model.embed(["hello"]), 10)).vectors.shape == (1, DIM)
            gc.collect()
            closed_loops_kept = sum(1 for loop in list(model.clients.others) if loop.is_closed())
        finally:
            release.set()
            thread.join(30)
    assert closed_loops_kept <= 1, f"{closed_loops_kept} clients kept for closed event loops"
