"""hf/* models against a fake Hugging Face Inference Providers server on 127.0.0.1 (HF_BASE_URL).

The functions' real handlers are called with the events in events/; the fake answers like the hf-inference router
(text classification, image classification, and its errors).
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime

import pytest
from PIL import Image

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.support import state
from tests.support.no_egress import EgressGuard
from tests.support.servers import ServerThread
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

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        model = scope["path"].removeprefix("/hf-inference/models/")
        self.requests.append({"model": model, "headers": headers, "body": body})
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
    body = payload.encode() if raw else json.dumps(payload).encode()
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
    """Points hf/* at the fake; yields a function that selects the sentiment and image models."""
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


@pytest.mark.parametrize(
    ("model", "sentiment", "score"),
    [
        ("acme/sentiment-3", "positive", 0.71),
        ("jaesun/kcbert-base-finetuned-nsmc", "negative", 0.93),  # NSMC fine-tune: LABEL_0 = negative
        ("nlptown/bert-base-multilingual-uncased-sentiment", "negative", 0.8),  # 1-2 stars
        ("tabularisai/multilingual-sentiment-analysis", "positive", 0.9),  # Very Positive + Positive
    ],
)
def test_hf_sentiment_labels_map_to_the_common_schema(hf, fake_hf, sentiment_function, model, sentiment, score):
    # GIVEN SENTIMENT_MODEL=hf/<model> WHEN a Korean text arrives
    hf(sentiment=f"hf/{model}")
    status, _, data = invoke(sentiment_function, "sentiment_ko")
    # THEN the model's labels are mapped to positive / negative / neutral, with summed scores
    assert status == 200, data
    assert data["sentiment"] == sentiment and data["score"] == pytest.approx(score)
    assert data["model"] == f"hf/{model}"
    # AND the router got the text and the token
    request = fake_hf.app.requests[-1]
    assert request["model"] == model
    assert json.loads(request["body"])["inputs"] == json.loads(load_event("sentiment_ko")["body"])["text"]


def test_hf_image_classification_sends_a_small_jpeg(hf, classify_function):
    hf(image="hf/google/vit-base-patch16-224")
    status, _, data = invoke(classify_function, "classify_multipart")
    assert status == 200, data
    assert data["model"] == "hf/google/vit-base-patch16-224"
    assert [label["label"] for label in data["labels"]] == ["espresso", "cup", "coffee mug", "eggnog", "consomme"]
    [row] = SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())
    assert (row.function, row.model, row.status) == ("classify", "hf/google/vit-base-patch16-224", "ok")


@pytest.mark.parametrize(
    ("model", "status", "code", "words"),
    [
        pytest.param(*case, marks=[pytest.mark.upstream_failure] if case[1] >= 500 else [])
        for case in [
            ("missing/model", 500, "not_configured", "not available on Hugging Face"),
            ("unsupported/model", 500, "not_configured", "not available on Hugging Face"),
            ("busy/model", 429, "rate_limited", ""),
            ("loading/model", 503, "provider_unavailable", "loading"),
            ("slow/model", 504, "provider_timeout", ""),
            ("garbage/model", 502, "provider_failed", "malformed"),
            ("unitary/toxic-bert", 502, "provider_failed", "not a sentiment"),
        ]
    ],
)
def test_hf_errors_are_mapped_once(hf, sentiment_function, model, status, code, words):
    hf(sentiment=f"hf/{model}")
    got, headers, data = invoke(sentiment_function, "sentiment_en")
    assert got == status, data
    assert data["error"]["code"] == code and words in data["error"]["message"]
    assert "Traceback" not in data["error"]["message"]
    if code == "rate_limited":
        assert headers["retry-after"] == "12"


@pytest.mark.upstream_failure
def test_a_wrong_token_is_a_provider_failure(hf, sentiment_function, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    hf(sentiment="hf/acme/sentiment-3")
    status, _, data = invoke(sentiment_function, "sentiment_en")
    assert status == 502 and "token" in data["error"]["message"]
    assert "hf_wrong" not in json.dumps(data)


@pytest.mark.upstream_failure  # the configuration has no token: 503
def test_no_token_configured_is_a_clear_503(hf, sentiment_function, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HF_TOKEN_PARAM", raising=False)
    hf(sentiment="hf/acme/sentiment-3")
    status, _, data = invoke(sentiment_function, "sentiment_en")
    assert status == 503 and "HF_TOKEN_PARAM" in data["error"]["message"]
