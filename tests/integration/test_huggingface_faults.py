"""hf/* models against a faulty Hugging Face upstream (tests/support/huggingface.py, scripted): the answers of
/api/sentiment and /api/image/classify, their usage rows, and one client serving several event loops."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from airelay.errors import ProviderFailed
from airelay.providers.huggingface import HFTextClassifier, HuggingFaceClient
from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from tests.support.huggingface import TOKEN, classify_function, fake_hf, hf, invoke, reply, sentiment_function

__all__ = ["classify_function", "fake_hf", "hf", "sentiment_function"]  # the fixtures of tests/support/huggingface.py

GOOD = [[{"label": "positive", "score": 0.7}, {"label": "neutral", "score": 0.2}, {"label": "negative", "score": 0.1}]]
VIT = "hf/google/vit-base-patch16-224"


def answering(status, payload, headers=(), raw=False):
    async def script(scope, body, send):
        await reply(send, status, payload, headers, raw=raw)

    return script


def dripping(payload):
    """A 200 whose body comes one byte every 0.3 s for about 8 s (its first byte and 25 spaces), then the rest."""
    body = json.dumps(payload).encode()
    body = body[:1] + b" " * 25 + body[1:]

    async def script(scope, _, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        for i in range(26):
            await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": True})
            await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": body[26:]})

    return script


def only_row():
    [row] = SqliteLedger(get_settings().usage_db_path).rows(datetime.now(UTC).date().isoformat())
    return row.function, row.status


@pytest.mark.upstream_failure
@pytest.mark.parametrize(
    ("function", "event", "model", "answer"),
    [
        ("sentiment", "sentiment_en", "hf/acme/sentiment-3", GOOD),
        ("classify", "classify_multipart", VIT, [{"label": "espresso", "score": 0.9}]),
    ],
)
def test_a_slow_drip_body_is_cut_at_upstream_timeout(hf, fake_hf, request, function, event, model, answer):
    """GIVEN UPSTREAM_TIMEOUT_S=1 and a Hugging Face answer that trickles in for about 8 s (each read within the read
    timeout) WHEN /api/sentiment or /api/image/classify is called THEN a 504 provider_timeout within the one deadline
    of the call, its answer read included (docs/configuration.md), not a 200 after the drip; and a failed call's row."""
    fake_hf.app.script = dripping(answer)
    hf(**{"sentiment" if function == "sentiment" else "image": model})
    started = time.monotonic()
    status, _, data = invoke(request.getfixturevalue(f"{function}_function"), event)
    took = time.monotonic() - started
    assert (status, data.get("error", {}).get("code"), took < 4) == (504, "provider_timeout", True), (
        status,
        data,
        took,
    )
    assert only_row() == (function, "error")


def test_a_429_without_retry_after_still_tells_the_client_when_to_retry(hf, fake_hf, sentiment_function):
    """GIVEN Hugging Face answers 429 with no Retry-After header WHEN /api/sentiment is called THEN the 429
    rate_limited carries Retry-After: 1 (README: '429 rate_limited (with Retry-After)'), as a chat model's does."""
    fake_hf.app.script = answering(429, {"error": "Rate limit reached"})
    hf(sentiment="hf/acme/sentiment-3")
    status, headers, data = invoke(sentiment_function, "sentiment_en")
    assert (status, data["error"]["code"], headers.get("retry-after")) == (429, "rate_limited", "1"), (headers, data)


@pytest.mark.upstream_failure
@pytest.mark.parametrize(("estimated", "retry_after"), [(20.0, "20"), (0.2, "1"), (3600, "60"), ("soon", None)])
def test_a_loading_model_503_turns_estimated_time_into_retry_after(
    hf, fake_hf, sentiment_function, estimated, retry_after
):
    """GIVEN Hugging Face answers its cold-start 503 {"error": "... is currently loading", "estimated_time": s} with
    no Retry-After header WHEN /api/sentiment is called THEN 503 provider_unavailable with Retry-After: s rounded up,
    1 to 60 (none when the time is not a number)."""
    answer = {"error": "Model acme/sentiment-3 is currently loading", "estimated_time": estimated}
    fake_hf.app.script = answering(503, answer)
    hf(sentiment="hf/acme/sentiment-3")
    status, headers, data = invoke(sentiment_function, "sentiment_en")
    assert (status, data["error"]["code"], headers.get("retry-after")) == (503, "provider_unavailable", retry_after)


@pytest.mark.upstream_failure
@pytest.mark.parametrize(
    "payload",
    [
        b'[[{"label": "positive", "score": NaN}, {"label": "negative", "score": NaN}]]',
        b'[[{"label": "positive", "score": -1.5}, {"label": "negative", "score": -3.2}]]',
        b'[[{"label": "positive", "score": 1.7}, {"label": "negative", "score": 0.1}]]',
    ],
    ids=["nan", "logits", "over-1"],
)
def test_sentiment_scores_that_are_not_probabilities_are_a_provider_failure(hf, fake_hf, sentiment_function, payload):
    """GIVEN Hugging Face answers 200 with NaN scores (Python's json reads the literal), logits or a score over 1
    WHEN /api/sentiment is called THEN 502 provider_failed and a failed call's row, not a 200 with a made-up
    confidence or a sentiment the model never gave."""
    fake_hf.app.script = answering(200, payload, raw=True)
    hf(sentiment="hf/acme/sentiment-3")
    status, _, data = invoke(sentiment_function, "sentiment_en")
    assert (status, data["error"]["code"]) == (502, "provider_failed"), data
    assert only_row() == ("sentiment", "error")


@pytest.mark.upstream_failure
@pytest.mark.parametrize(
    "payload",
    [b'[{"label": "espresso", "score": NaN}]', b'[{"label": "espresso", "score": 7.5}, {"label": "cup", "score": -2}]'],
    ids=["nan", "logits"],
)
def test_image_scores_outside_0_1_are_a_provider_failure(hf, fake_hf, classify_function, payload):
    """GIVEN hf/ image classification answering 200 with a NaN score or scores outside 0..1 WHEN
    /api/image/classify/upload is called THEN 502 provider_failed (a bad upstream answer), not 500 internal_error,
    and a failed call's row."""
    fake_hf.app.script = answering(200, payload, raw=True)
    hf(image=VIT)
    status, _, data = invoke(classify_function, "classify_multipart")
    assert (status, data["error"]["code"]) == (502, "provider_failed"), data
    assert only_row() == ("classify", "error")


@pytest.mark.upstream_failure
def test_a_huge_answer_is_refused_not_read_whole(hf, fake_hf, sentiment_function):
    """GIVEN Hugging Face answers 200 with an 8 MiB body (valid JSON: the label list padded with whitespace), where a
    real answer is a few hundred bytes WHEN /api/sentiment is called THEN 502 provider_failed: the provider reads at
    most 1 MiB of an answer, so a faulty upstream cannot take the function's memory."""
    body = b"[" + b" " * (8 * 1024 * 1024) + json.dumps(GOOD[0]).encode()[1:]
    fake_hf.app.script = answering(200, body)
    hf(sentiment="hf/acme/sentiment-3")
    status, _, data = invoke(sentiment_function, "sentiment_en")
    assert (status, data["error"]["code"]) == (502, "provider_failed"), data
    assert "1 MiB" in data["error"]["message"]


def test_one_hf_client_serves_two_event_loops(hf, fake_hf):
    """GIVEN one hf/ classifier (kept per container and shared, in the local API, by the sentiment function's loop
    and the chat function's analyze_sentiment tool on uvicorn's) WHEN it classifies on one live event loop and then
    on another THEN both calls succeed: a client is kept per loop (docs/architecture.md)."""
    hf()
    client = HuggingFaceClient(f"{fake_hf.url}/hf-inference", TOKEN, get_settings())
    model = HFTextClassifier("hf/acme/sentiment-3", client)
    results, errors = [], []
    first_done, second_done = threading.Event(), threading.Event()

    def loop_a():
        loop = asyncio.new_event_loop()
        try:
            results.append(loop.run_until_complete(model.classify("good")).sentiment)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            first_done.set()
            second_done.wait(30)
            loop.close()

    thread = threading.Thread(target=loop_a)
    thread.start()
    first_done.wait(30)
    try:
        results.append(asyncio.run(asyncio.wait_for(model.classify("good"), 10)).sentiment)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        second_done.set()
        thread.join(30)
    assert (results, errors) == (["positive", "positive"], [])


def test_a_reconnect_sends_the_new_token(hf, fake_hf):
    """GIVEN an hf/ classifier whose token was revoked WHEN the client reconnects with the token read again (a
    SnapStart restore, registry.renew_keys) THEN the next call on the same loop carries the new token."""
    hf()
    client = HuggingFaceClient(f"{fake_hf.url}/hf-inference", "hf_revoked", get_settings())
    model = HFTextClassifier("hf/acme/sentiment-3", client)

    async def before_and_after():
        with pytest.raises(ProviderFailed):
            await model.classify("good")
        client.reconnect(TOKEN)
        return (await model.classify("good")).sentiment

    assert asyncio.run(before_and_after()) == "positive"
    tokens = [request["headers"]["authorization"] for request in fake_hf.app.requests]
    assert tokens == ["Bearer hf_revoked", f"Bearer {TOKEN}"]
