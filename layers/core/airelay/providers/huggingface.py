"""hf/<model>: Hugging Face Inference Providers (router.huggingface.co/hf-inference), text and image classification.

`POST {HF_BASE_URL}/models/{model}` with `{"inputs": text}` or the image's bytes. Only models deployed there can be
called: "model not available" is a configuration error (500 not_configured) that names the model. A call, its answer
read, ends within UPSTREAM_TIMEOUT_S; an answer is at most ANSWER_MAX_BYTES and its scores probabilities.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import re
import threading
import weakref

import anyio
import httpx2

from ..errors import (
    AirelayError,
    InvalidInput,
    NotConfigured,
    PayloadTooLarge,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..settings import Settings
from .base import SENTIMENTS, ImageClassifier, Label, SentimentResult, TextClassifier

log = logging.getLogger("airelay.providers")

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
TOP_LABELS = 5
IMAGE_SIDE = 512  # images are sent re-encoded, at most this many pixels a side (ViT looks at 224 x 224)
NOT_AVAILABLE = ("not supported", "not found", "does not exist", "not available", "no inference provider")
ANSWER_MAX_BYTES = 1024 * 1024  # a real answer, ten labels and their scores, is well under 2 KB
RETRY_AFTER_MAX_S = 60  # what a loading model's estimated_time may ask a client to wait


class HuggingFaceClient:
    """Shared by the text and image classifiers of a container: an HTTP client per event loop (a connection pool
    serves the loop that opened it; the local API runs each function on a loop of its own)."""

    def __init__(self, base_url: str, token: str, settings: Settings) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"authorization": f"Bearer {token}", "user-agent": "airelay"}
        self.timeout_s = settings.upstream_timeout_s
        self.read_timeout = httpx2.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s)
        self.clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()  # the local API's loops run in threads of their own

    def loop_http(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        with self.lock:
            http = self.clients.get(loop)
            if http is None:
                for old in [old for old in self.clients if old.is_closed()]:
                    del self.clients[old]  # its client's connections hold the loop: it would never be collected
                http = self.clients[loop] = httpx2.AsyncClient(
                    base_url=self.base_url, headers=self.headers, timeout=self.read_timeout, follow_redirects=False
                )
            return http

    def reconnect(self, token: str | None = None) -> None:
        """New clients with empty connection pools, and `token` if given (after a SnapStart restore)."""
        with self.lock:
            if token:
                self.headers = {**self.headers, "authorization": f"Bearer {token}"}
            self.clients.clear()

    async def post(self, model: str, **kwargs) -> object:
        if not MODEL_NAME.match(model):
            raise NotConfigured(f"'{model[:80]}' is not a Hugging Face model id.")
        try:
            with anyio.fail_after(self.timeout_s):  # the read timeout alone never ends a body that keeps dripping
                async with self.loop_http().stream("POST", f"models/{model}", **kwargs) as response:
                    body = await capped(response, ANSWER_MAX_BYTES)
        except Exception as exc:
            raise transport_error(exc) from None
        if response.status_code >= 400:
            raise status_error(response, body, model)
        if len(body) > ANSWER_MAX_BYTES:
            raise ProviderFailed("Hugging Face sent an answer over 1 MiB.")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ProviderFailed("Hugging Face sent a malformed response.") from None


async def capped(response: httpx2.Response, limit: int) -> bytes:
    """The body, or its first `limit` + 1 bytes if it is longer (the rest is never read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body[: limit + 1])


class HFTextClassifier(TextClassifier):
    provider = "hf"

    def __init__(self, model_id: str, client: HuggingFaceClient) -> None:
        super().__init__(model_id)
        self.client = client

    async def classify(self, text: str) -> SentimentResult:
        answer = await self.client.post(self.name, json={"inputs": text, "parameters": {"top_k": 10}})
        scores = common_scores(label_scores(answer))
        winner = max(scores, key=scores.get)
        return SentimentResult(winner, min(1.0, scores[winner]))  # a multi-label model's scores may sum over 1


class HFImageClassifier(ImageClassifier):
    provider = "hf"

    def __init__(self, model_id: str, client: HuggingFaceClient) -> None:
        super().__init__(model_id)
        self.client = client

    async def classify(self, image) -> list[Label]:
        data, content_type = (image, sniff(image)) if isinstance(image, bytes) else encoded(image)
        answer = await self.client.post(self.name, content=data, headers={"content-type": content_type})
        labels = sorted(label_scores(answer), key=lambda item: -item[1])[:TOP_LABELS]
        return [Label(label, score) for label, score in labels]


def encoded(image) -> tuple[bytes, str]:
    """A decoded image as a small JPEG: no metadata, a bounded upload."""
    copy = image.convert("RGB")
    copy.thumbnail((IMAGE_SIDE, IMAGE_SIDE))
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=90)
    return out.getvalue(), "image/jpeg"


def sniff(data: bytes) -> str:
    for magic, content_type in (
        (b"\xff\xd8", "image/jpeg"),
        (b"\x89PNG", "image/png"),
        (b"GIF8", "image/gif"),
        (b"BM", "image/bmp"),
    ):
        if data.startswith(magic):
            return content_type
    return "image/webp" if data[8:12] == b"WEBP" else "application/octet-stream"


def label_scores(answer: object) -> list[tuple[str, float]]:
    """`[{"label", "score"}, ...]`, or that list wrapped in another list (text classification); every score a
    probability (not NaN, not a logit)."""
    if isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list):
        answer = answer[0]
    try:
        pairs = [(str(item["label"]), float(item["score"])) for item in answer]
    except (TypeError, KeyError, ValueError):
        raise ProviderFailed("Hugging Face sent an unexpected answer.") from None
    if not pairs:
        raise ProviderFailed("Hugging Face sent no labels.")
    if not all(0.0 <= score <= 1.0 for _, score in pairs):  # NaN fails it too
        raise ProviderFailed("Hugging Face sent a score that is not a probability.")
    return pairs


def common_sentiment(label: str, count: int) -> str | None:
    """A model's label in the common schema. Handles POSITIVE/neg/Neutral, "Very Negative", "1 star".."5 stars",
    and LABEL_n / n: two labels are negative, positive (NSMC fine-tunes); three are negative, neutral, positive."""
    text = label.strip().lower()
    for sentiment, stem in (("positive", "pos"), ("negative", "neg"), ("neutral", "neu")):
        if stem in text:
            return sentiment
    stars = re.fullmatch(r"([1-5]) stars?", text)
    if stars:
        return ("negative", "negative", "neutral", "positive", "positive")[int(stars.group(1)) - 1]
    index = re.fullmatch(r"(?:label_)?([0-2])", text)
    if index and count in (2, 3):
        order = ("negative", "positive") if count == 2 else ("negative", "neutral", "positive")
        return order[int(index.group(1))] if int(index.group(1)) < count else None
    return None


def common_scores(pairs: list[tuple[str, float]]) -> dict[str, float]:
    scores = dict.fromkeys(SENTIMENTS, 0.0)
    for label, score in pairs:
        sentiment = common_sentiment(label, len(pairs))
        if sentiment is None:
            raise ProviderFailed(f"The Hugging Face model's label '{label[:40]}' is not a sentiment.")
        scores[sentiment] += score
    return scores


def status_error(response: httpx2.Response, body: bytes, model: str) -> AirelayError:
    status = response.status_code
    detail = body[:500].decode(errors="replace").lower()
    log.warning("hugging face answered %s for %s", status, model)
    if status == 404 or (status == 400 and any(words in detail for words in NOT_AVAILABLE)):
        return NotConfigured(f"The model '{model}' is not available on Hugging Face Inference Providers.")
    if status == 410:
        return NotConfigured("This Hugging Face endpoint is gone: set HF_BASE_URL to the Inference Providers router.")
    if status in (401, 403):
        return ProviderFailed("Hugging Face refused this server's token.")
    if status == 413:
        return PayloadTooLarge("The input is too large for the Hugging Face model.")
    if status in (400, 422):
        return InvalidInput("The Hugging Face model rejected the input.")
    if status == 429:
        return ProviderRateLimited(retry_after=retry_after(response))
    if status == 503:
        return ProviderUnavailable(
            "The Hugging Face model is loading or unavailable; try again shortly.",
            retry_after=retry_after(response) or loading_time(body),
        )
    if status == 504:
        return ProviderTimeout()
    return ProviderFailed()


def transport_error(exc: BaseException) -> AirelayError:
    log.warning("hugging face transport error %s", type(exc).__name__)
    if isinstance(exc, (httpx2.TimeoutException, TimeoutError)):
        return ProviderTimeout()
    if isinstance(exc, httpx2.TransportError):
        return ProviderUnavailable("Hugging Face could not be reached.")
    return ProviderFailed()


def retry_after(response: httpx2.Response) -> int | None:
    value = response.headers.get("retry-after")
    try:
        return max(1, int(float(value))) if value else None
    except (ValueError, OverflowError):
        return None


def loading_time(body: bytes) -> int | None:
    """A loading model's `{"estimated_time": seconds}`, in whole seconds, 1 to RETRY_AFTER_MAX_S."""
    try:
        seconds = float(json.loads(body)["estimated_time"])
    except (ValueError, TypeError, KeyError, RecursionError):
        return None
    return min(RETRY_AFTER_MAX_S, max(1, math.ceil(seconds))) if math.isfinite(seconds) else None
