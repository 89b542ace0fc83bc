"""`dimensions` on /v1/embeddings gives what OpenAI documents: the first N dimensions, normalised again, in float and in
base64 alike (its refusals: test_embeddings.py)."""

import base64
import json

import numpy as np
import openai
import pytest

from tests.integration.openai_api.conftest import KEY, rows
from tests.integration.openai_api.test_embeddings import forget_openai_embedders
from tests.support.servers import ServerThread, read_body

FULL = 1536  # text-embedding-3-small


def upstream_vector(i: int) -> list[float]:
    """A distinct, non-normalised vector per input: shortening must cut it and normalise it again."""
    return [float((k % 7) + 1 + i) for k in range(FULL)]


class Embeddings:
    def __init__(self) -> None:
        self.bodies: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = json.loads(await read_body(receive))
        self.bodies.append(body)
        texts = body["input"]
        data = [{"object": "embedding", "index": i, "embedding": upstream_vector(i)} for i in range(len(texts))]
        answer = json.dumps(
            {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 3, "total_tokens": 3}}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def embedding_client(start):
    app = Embeddings()
    with ServerThread(app) as server:
        forget_openai_embedders()
        base = start(EMBEDDING_MODELS="openai/text-embedding-3-small", OPENAI_BASE_URL=f"{server.url}/v1")
        yield openai.OpenAI(base_url=base, api_key=KEY, max_retries=0, timeout=60), app
        forget_openai_embedders()


def expected(i: int, dimensions: int) -> np.ndarray:
    full = np.asarray(upstream_vector(i), dtype=np.float64)
    full /= np.linalg.norm(full)
    cut = full[:dimensions]
    return cut / np.linalg.norm(cut)


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_dimensions_shortens_and_normalises_each_embedding(embedding_client, tmp_path, encoding_format):
    client, _ = embedding_client
    # WHEN two texts are embedded with 256 of text-embedding-3-small's 1536 dimensions, as floats or base64
    answer = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["hello", "world"], dimensions=256, encoding_format=encoding_format
    )
    data = json.loads(answer.text)["data"]
    if encoding_format == "base64":
        assert all(isinstance(d["embedding"], str) for d in data)
        vectors = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in data]
    else:
        vectors = [np.asarray(d["embedding"]) for d in data]
    # THEN each vector has 256 numbers: the first 256 of the model's, normalised again (OpenAI's documented way)
    for i, vector in enumerate(vectors):
        assert vector.shape == (256,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        assert vector == pytest.approx(expected(i, 256), abs=1e-5)
    # AND the call is metered once
    [row] = rows(tmp_path)
    assert row.status == "ok" and row.function == "openai"


def test_dimensions_equal_to_the_models_size_changes_nothing(embedding_client):
    client, _ = embedding_client
    full = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    same = client.embeddings.create(
        model="text-embedding-3-small", input="hello", dimensions=FULL, encoding_format="float"
    )
    assert len(same.data[0].embedding) == FULL
    assert same.data[0].embedding == pytest.approx(full.data[0].embedding, abs=1e-6)
