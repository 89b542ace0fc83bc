"""The real local models: sentiment accuracy on the Korean/English dev set, and the coffee photo.

Also an image_url end to end through the local API (template routes, real uvicorn), fetched from a test server on
127.0.0.1 under an injected resolver and test policy, with the egress guard installed.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import anyio
import httpx
import pytest
import yaml
from PIL import Image
from skimage import data

from airelay.images.fetch import FetchPolicy, fetch_image
from airelay.providers import registry
from airelay.routers import classify as classify_router
from airelay.settings import get_settings
from tests.support import state
from tests.support.no_egress import EgressGuard
from tests.support.photos import jpeg_bytes
from tests.support.servers import ServerThread

REPO = Path(__file__).resolve().parents[2]
DEV_SET = REPO / "tests" / "sentiment_dev_set.yaml"
ANCHORS = REPO / "layers" / "core" / "airelay" / "data" / "sentiment_anchors.json"


def dev_set() -> list[tuple[str, str, str]]:
    """(language, expected sentiment, text) for every sentence of the dev set."""
    sets = yaml.safe_load(DEV_SET.read_text("utf-8"))
    return [
        (lang, sentiment, text)
        for lang, by_label in sets.items()
        for sentiment, texts in by_label.items()
        for text in texts
    ]


def test_the_dev_set_is_balanced_and_separate_from_the_anchors():
    rows = dev_set()
    for lang in ("ko", "en"):
        counts = {
            s: sum(1 for la, se, _ in rows if la == lang and se == s) for s in ("positive", "negative", "neutral")
        }
        assert all(n >= 10 for n in counts.values()) and sum(counts.values()) >= 30, (lang, counts)
    anchors = {a for texts in json.loads(ANCHORS.read_text("utf-8"))["classes"].values() for a in texts}
    assert not anchors & {text for *_, text in rows}, "the dev set must not contain anchor sentences"


async def classify_all(rows):
    model = await registry.text_classifier("local/use-multilingual-anchors")
    return [(await model.classify(text)).sentiment for _, _, text in rows]


def test_local_sentiment_accuracy_on_the_dev_set():
    # GIVEN the hand-written Korean and English dev set
    rows = dev_set()
    # WHEN the local model classifies every sentence
    predicted = anyio.run(classify_all, rows)
    # THEN at least 85 % are right overall (reported per language)
    right = {
        lang: [p == expected for (la, expected, _), p in zip(rows, predicted) if la == lang] for lang in ("ko", "en")
    }
    accuracy = {lang: sum(r) / len(r) for lang, r in right.items()}
    overall = sum(p == expected for (_, expected, _), p in zip(rows, predicted)) / len(rows)
    print(
        f"sentiment accuracy: ko {accuracy['ko']:.3f} ({len(right['ko'])}), en {accuracy['en']:.3f} "
        f"({len(right['en'])}), overall {overall:.3f}"
    )
    assert overall >= 0.85, accuracy
    assert min(accuracy.values()) >= 0.75, accuracy


@pytest.fixture
def image_model(monkeypatch):
    """The exported EfficientNet-Lite0 (`make models`), named as local.lambda_bridge names it for the local API."""
    monkeypatch.setenv("IMAGE_MODEL_PATH", str(REPO / "functions" / "classify" / "model" / "efficientnet-lite0.onnx"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def top_labels(image):
    model = await registry.image_classifier("local/efficientnet-lite0")
    return await model.classify(image)


@pytest.mark.parametrize("form", ["pil", "jpeg"])
def test_the_coffee_photo_is_an_espresso(form, image_model):
    # GIVEN scikit-image's coffee photo, decoded or as JPEG bytes
    image = Image.fromarray(data.coffee()) if form == "pil" else jpeg_bytes()
    # WHEN EfficientNet-Lite0 classifies it THEN the top label is espresso, confidently
    labels = anyio.run(top_labels, image)
    assert labels[0].label == "espresso"
    assert labels[0].score > 0.8
    assert abs(sum(label.score for label in labels) - 1) < 0.1


# ---------------------------------------------------------------- image_url end to end


class PhotoServer:
    def __init__(self) -> None:
        self.photo = jpeg_bytes()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"image/jpeg"), (b"content-length", str(len(self.photo)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": self.photo})


class PhotoHostPolicy(FetchPolicy):
    def refusal(self, host, address):
        if host == "photos.test" and address == ipaddress.ip_address("127.0.0.1"):
            return None
        return super().refusal(host, address)


async def photos_resolver(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host == "photos.test" else ["10.9.8.7"]


def test_an_image_url_is_fetched_and_classified_through_the_local_api(local_api, monkeypatch):
    # GIVEN the classify route with the production fetcher, given a test resolver and policy
    monkeypatch.setattr(
        classify_router,
        "fetch_image",
        lambda url, policy: fetch_image(url, PhotoHostPolicy(**vars(policy)), photos_resolver),
    )
    with ServerThread(PhotoServer()) as photos, EgressGuard() as guard:
        api = local_api()
        # WHEN a client posts an image_url
        ok = httpx.post(
            f"{api}/api/image/classify", json={"image_url": f"http://photos.test:{photos.port}/c.jpg"}, timeout=60
        )
        refused = httpx.post(f"{api}/api/image/classify", json={"image_url": "http://elsewhere.test/c.jpg"}, timeout=60)
    # THEN the photo is fetched and classified; a host that resolves privately is refused; nothing left the machine
    assert ok.status_code == 200, ok.text
    assert ok.json()["labels"][0]["label"] == "espresso"
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "image_url_refused"
    assert guard.blocked == []


# ---------------------------------------------------------------- llm/<local chat model>


@pytest.fixture
def llama_url():
    from local import model_server
    from tests.support.servers import free_port

    port = free_port()
    process = model_server.start(port)  # fails with instructions if `make model-server` has not run
    yield f"http://127.0.0.1:{port}/v1"
    model_server.stop(process)


def test_llm_sentiment_with_the_local_chat_model_returns_valid_json(llama_url, monkeypatch):
    # GIVEN SENTIMENT_MODEL=llm/local/smollm2-135m and the real llama.cpp server (its JSON mode takes the schema)
    monkeypatch.setenv("LOCAL_MODEL_BASE_URL", llama_url)
    monkeypatch.setenv("UPSTREAM_TIMEOUT_S", "300")  # what is checked is the answer, not how fast a busy CPU gives it
    get_settings.cache_clear()
    state.forget_chat_models()
    state.forget_classifiers(keep_local=True)

    async def classify():
        model = await registry.text_classifier("llm/local/smollm2-135m")
        return await model.classify("The battery died after a day and nobody answered my emails. Awful.")

    try:
        result = anyio.run(classify)
    finally:
        get_settings.cache_clear()
        state.forget_chat_models()
        state.forget_classifiers(keep_local=True)
    # THEN the answer passed validation (a 135M model's judgement is not asserted) and carries the model's usage
    assert result.sentiment in ("positive", "negative", "neutral") and 0 <= result.score <= 1
    assert result.usage.prompt_tokens > 100 and result.usage.completion_tokens > 0
    assert result.usage.estimated is False


def test_a_multipart_upload_is_classified_through_the_local_api(local_api):
    # GIVEN the local API (as `make dev` serves it): binary bodies reach the function base64-encoded, as on AWS
    api = local_api()
    # WHEN a browser-style multipart upload arrives
    response = httpx.post(
        f"{api}/api/image/classify/upload", files={"image": ("coffee.jpg", jpeg_bytes(), "image/jpeg")}, timeout=60
    )
    # THEN the photo is classified
    assert response.status_code == 200, response.text
    assert response.json()["labels"][0]["label"] == "espresso"
