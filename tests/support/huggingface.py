"""A fake Hugging Face Inference Providers server on 127.0.0.1 (HF_BASE_URL) for the hf/* tests
(tests/integration/test_huggingface*.py): it answers like the hf-inference router (text classification, image
classification, and its errors), or as a test scripts it. A test module imports the fixtures `fake_hf`, `hf`,
`sentiment_function` and `classify_function`, and calls the functions' real handlers with `invoke`.
"""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.support import state
from tests.support.no_egress import EgressGuard
from tests.support.servers import ServerThread, read_body
from tests.support.state import forget_meter

TOKEN = "hf_test_token"

TEXT_ANSWERS = {
    "acme/sentiment-3": [
        [{"label": "positive", "score": 0.71}, {"label": "neutral", "score": 0.2}, {"label": "negative", "score": 0.09}]
    ],
    "jaesun/kcbert-base-finetuned-nsmc": [[{"label": "LABEL_0", "score": 0.93}, {"label": "LABEL_1", "score": 0.07}]],
    "nlptown/bert-base-multilingual-uncased-sentiment": [
        [
            {"label": "1 star", "score": 0.5},
            {"label": "2 stars", "score": 0.3},
            {"label": "3 stars", "score": 0.1},
            {"label": "4 stars", "score": 0.06},
            {"label": "5 stars", "score": 0.04},
        ]
    ],
    "tabularisai/multilingual-sentiment-analysis": [
        [
            {"label": "Very Positive", "score": 0.6},
            {"label": "Positive", "score": 0.3},
            {"label": "Neutral", "score": 0.05},
            {"label": "Negative", "score": 0.03},
            {"label": "Very Negative", "score": 0.02},
        ]
    ],
    "unitary/toxic-bert": [[{"label": "toxic", "score": 0.9}]],
}
VIT_ANSWER = [
    {"label": "espresso", "score": 0.81},
    {"label": "cup", "score": 0.07},
    {"label": "coffee mug", "score": 0.05},
    {"label": "eggnog", "score": 0.02},
    {"label": "consomme", "score": 0.01},
    {"label": "soup bowl", "score": 0.01},
]


class FakeHF:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script = None  # a test's own `script(scope, body, send)`, answering every request instead

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        model = scope["path"].removeprefix("/hf-inference/models/")
        self.requests.append({"model": model, "headers": headers, "body": body})
        if self.script is not None:
            return await self.script(scope, body, send)
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return await reply(send, 401, {"error": "Invalid credentials in Authorization header"})
        if model == "google/vit-base-patch16-224":
            image = Image.open(io.BytesIO(body))
            assert headers["content-type"] == "image/jpeg" and max(image.size) <= 512
            return await reply(send, 200, VIT_ANSWER)
        if model in TEXT_ANSWERS:
            assert json.loads(body)["inputs"]
            return await reply(send, 200, TEXT_ANSWERS[model])
        if model == "unsupported/model":
            error = "Model unsupported/model is not supported by provider hf-inference."
            return await reply(send, 400, {"error": error})
        if model == "busy/model":
            return await reply(send, 429, {"error": "rate limited"}, [(b"retry-after", b"12")])
        if model == "loading/model":
            return await reply(send, 503, {"error": "Model is currently loading", "estimated_time": 20.0})
        if model == "slow/model":
            await asyncio.sleep(3)
            return await reply(send, 200, TEXT_ANSWERS["acme/sentiment-3"])
        if model == "garbage/model":
            return await reply(send, 200, "<html>oops</html>", raw=True)
        return await reply(send, 404, {"error": f"Model {model} does not exist"})


async def reply(send, status: int, payload, extra=(), raw: bool = False) -> None:
    """`payload` as JSON, or as it is when `raw` (bytes or text, sent as text/html)."""
    body = payload if isinstance(payload, bytes) else payload.encode() if raw else json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html" if raw else b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def fake_hf():
    app = FakeHF()
    with ServerThread(app) as server:
        server.app = app
        yield server


@pytest.fixture
def hf(fake_hf, monkeypatch, tmp_path):
    """Points hf/* at the fake, unscripted; yields a function that selects the sentiment and image models."""
    fake_hf.app.requests.clear()
    fake_hf.app.script = None
    monkeypatch.setenv("HF_BASE_URL", f"{fake_hf.url}/hf-inference")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("UPSTREAM_TIMEOUT_S", "1")
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    monkeypatch.setenv("MODEL_PRICES", '{"hf/*": {"input": 0, "output": 0}}')  # HF bills compute time, not tokens
    forget_meter()

    def use(sentiment: str | None = None, image: str | None = None) -> None:
        if sentiment:
            monkeypatch.setenv("SENTIMENT_MODEL", sentiment)
        if image:
            monkeypatch.setenv("IMAGE_MODEL", image)
        get_settings.cache_clear()
        state.forget_classifiers(keep_local=True)

    with EgressGuard() as guard:
        yield use
    get_settings.cache_clear()
    state.forget_classifiers(keep_local=True)
    assert guard.blocked == []


@pytest.fixture(scope="module")
def sentiment_function():
    return Container(find_function("SentimentFunction"))


@pytest.fixture(scope="module")
def classify_function():
    return Container(find_function("ClassifyFunction"))


def invoke(container, event_name):
    response = container.invoke(load_event(event_name)).result(timeout=60)
    return response["statusCode"], response["headers"], json.loads(response["body"])
