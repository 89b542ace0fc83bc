"""One warm FaqIndexerFunction container handles S3 event after S3 event with the same clients: the embedding
model's async HTTP client and boto3's S3 client (moto server and a small OpenAI-compatible embeddings server, both
on loopback)."""

import hashlib
import json

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from airelay.providers import registry
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support.aws import moto_server
from tests.support.servers import ServerThread
from tests.support.state import forget_meter

from ..functional.conftest import load_event

BUCKET = "airelay-faq-indexer-events"
MODEL = "openai/text-embedding-3-small"
SOURCE = {
    "entries": [
        {"id": "shipping-fee", "question": "배송비는 얼마인가요?", "answer": "배송비는 3,000원입니다."},
        {"id": "refund-time", "question": "환불은 언제 되나요?", "answer": "검수 후 1~2영업일 안에 환불됩니다."},
    ]
}


def embeddings_app(connections: set) -> Starlette:
    """POST /v1/embeddings: a unit vector per text, seeded by the text; notes each client connection it served."""

    async def embeddings(request: Request) -> JSONResponse:
        connections.add(request.client.port)
        body = await request.json()
        rows = []
        for index, text in enumerate(body["input"]):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(1536)
            rows.append(
                {"object": "embedding", "index": index, "embedding": (vector / np.linalg.norm(vector)).tolist()}
            )
        tokens = sum(len(text.encode()) for text in body["input"])
        return JSONResponse(
            {
                "object": "list",
                "data": rows,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])


@pytest.fixture
def indexer(monkeypatch, tmp_path):
    connections: set = set()
    with moto_server(monkeypatch), ServerThread(embeddings_app(connections)) as embedder:
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for name, value in {
            "FAQ_INDEX_URL": f"s3://{BUCKET}/index/faq-index.bin",
            "FAQ_EMBEDDING_MODEL": MODEL,
            "OPENAI_BASE_URL": f"{embedder.url}/v1",
            "OPENAI_API_KEY": "sk-test",
            "USAGE_DB_PATH": str(tmp_path / "usage.sqlite3"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delitem(registry._providers, (registry.Embedder, MODEL), raising=False)
        get_settings.cache_clear()
        forget_meter()
        yield Container(find_function("FaqIndexerFunction")), s3, connections
    get_settings.cache_clear()
    forget_meter()


def upload(s3, key: str) -> dict:
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(SOURCE, ensure_ascii=False).encode())
    event = load_event("faq_source_put")
    event["Records"][0]["s3"]["bucket"]["name"] = BUCKET
    event["Records"][0]["s3"]["object"]["key"] = key
    return event


def test_a_warm_indexer_builds_on_every_event_with_the_clients_it_made_once(indexer):
    container, s3, connections = indexer
    # GIVEN a warm indexer container that built the index from one upload
    first = container.invoke(upload(s3, "source/first.json")).result(timeout=60)
    assert [b["source"] for b in first["built"]] == [f"s3://{BUCKET}/source/first.json"], first
    # WHEN a second upload arrives in the same container
    second = container.invoke(upload(s3, "source/second.json")).result(timeout=60)
    # THEN it builds too, through the same embedding client and its kept-alive connection
    assert [b["source"] for b in second["built"]] == [f"s3://{BUCKET}/source/second.json"], second
    assert second["rejected"] == []
    assert len(connections) == 1
