"""/v1/embeddings with what clients send besides texts: token ids (LangChain's OpenAIEmbeddings, by default) and
`dimensions`; and against an OpenAI embeddings upstream that leaves out `usage` or trickles its answer."""

import asyncio
import json
import time

import openai
import pytest

from airelay.providers import registry
from tests.integration.openai_api.conftest import KEY, rows
from tests.support.servers import ServerThread, read_body

HELLO_WORLD = [15339, 1917]  # "hello world" in cl100k_base


def test_token_ids_are_embedded_as_the_text_they_stand_for(client):
    # GIVEN a text embedded as it is
    [text] = client.embeddings.create(model="local/use-multilingual", input="hello world").data
    # WHEN its cl100k_base token ids are sent instead, as one array and as a list of arrays
    [one] = client.embeddings.create(model="local/use-multilingual", input=HELLO_WORLD).data
    many = client.embeddings.create(model="local/use-multilingual", input=[HELLO_WORLD, [15339]]).data
    # THEN they are embedded as that text
    assert one.embedding == pytest.approx(text.embedding, abs=1e-6)
    assert many[0].embedding == pytest.approx(text.embedding, abs=1e-6) and len(many) == 2


@pytest.mark.parametrize("tokens", [[15339, 10**7], [-1], []])
def test_token_ids_outside_the_vocabulary_or_none_are_a_400(client, tokens):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="local/use-multilingual", input=[tokens])
    assert refused.value.param == "input"


def test_dimensions_over_the_models_size_are_refused_before_the_paid_call(start, upstream):
    # GIVEN text-embedding-3-small (1536 dimensions) at an upstream that answers no embeddings: any call would fail
    base = start(EMBEDDING_MODELS="openai/text-embedding-3-small")
    client = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    # WHEN more dimensions than it has are asked for
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=4096)
    # THEN that is the 400, before any call
    assert refused.value.param == "dimensions" and "at most 1536" in refused.value.message


class ScriptedEmbeddings:
    """An OpenAI embeddings upstream (ASGI) whose answer the test sets: `handler(payload, send)`, `payload` the bytes of
    a right answer (one vector and one token a word per input, with usage unless `usage` is False)."""

    def __init__(self) -> None:
        self.handler = None
        self.usage = True

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        texts = json.loads(body)["input"]
        data = [{"object": "embedding", "index": i, "embedding": [1.0] + [0.0] * 1535} for i in range(len(texts))]
        answer = {"object": "list", "data": data, "model": "text-embedding-3-small"}
        if self.usage:
            tokens = sum(len(t.split()) for t in texts)
            answer["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        await self.handler(json.dumps(answer).encode(), send)


async def at_once(payload: bytes, send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def embeddings_upstream():
    app = ScriptedEmbeddings()
    with ServerThread(app) as server:
        server.app = app
        yield server


def forget_openai_embedders() -> None:
    """The registry keeps an embedder, with its base URL, for the process: the local API's, across tests."""
    for key in [k for k in registry._providers if k[0] is registry.Embedder and k[1].startswith("openai/")]:
        del registry._providers[key]


@pytest.fixture
def openai_embeddings(start, embeddings_upstream):
    """/v1/embeddings serving text-embedding-3-small from `embeddings_upstream`, UPSTREAM_TIMEOUT_S=1."""
    embeddings_upstream.app.handler, embeddings_upstream.app.usage = at_once, True
    forget_openai_embedders()
    base = start(
        EMBEDDING_MODELS="openai/text-embedding-3-small",
        OPENAI_BASE_URL=f"{embeddings_upstream.url}/v1",
        UPSTREAM_TIMEOUT_S=1,
    )
    yield openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=60)
    forget_openai_embedders()


def test_embeddings_without_usage_are_billed_their_input_estimated(openai_embeddings, embeddings_upstream, tmp_path):
    """An upstream answer without `usage`: the call is billed its input's tokens, estimated (the provider billed
    them), in the usage row and in the answer."""
    embeddings_upstream.app.usage = False
    answer = openai_embeddings.embeddings.create(
        model="text-embedding-3-small", input="how long does shipping to Busan take?"
    )
    [row] = rows(tmp_path)
    assert row.prompt_tokens > 0 and row.estimated and row.status == "ok", row
    assert answer.usage.prompt_tokens == row.prompt_tokens


@pytest.mark.upstream_failure
def test_a_trickling_embeddings_answer_is_cut_at_upstream_timeout(openai_embeddings, embeddings_upstream, tmp_path):
    """An answer that trickles in a byte every 0.3 s (each read within the SDK's timeout, about 8 s in all): a 504 at
    UPSTREAM_TIMEOUT_S, the deadline of a /v1 answer without stream, billed its input estimated."""

    async def trickle(payload: bytes, send) -> None:
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(25):
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": payload})

    embeddings_upstream.app.handler = trickle
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as cut:
        openai_embeddings.embeddings.create(model="text-embedding-3-small", input="hello there")
    assert cut.value.status_code == 504 and time.monotonic() - started < 4
    [row] = rows(tmp_path)
    assert row.prompt_tokens > 0 and row.estimated and row.status == "error", row
