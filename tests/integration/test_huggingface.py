"""hf/* models against a fake Hugging Face Inference Providers server on 127.0.0.1 (HF_BASE_URL).

The functions' real handlers are called with the events in events/; the fake (tests/support/huggingface.py) answers
like the hf-inference router (text classification, image classification, and its errors).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airelay.settings import get_settings
from airelay.usage.sqlite import SqliteLedger
from tests.functional.conftest import load_event
from tests.support.huggingface import classify_function, fake_hf, hf, invoke, sentiment_function

__all__ = ["classify_function", "fake_hf", "hf", "sentiment_function"]  # the fixtures of tests/support/huggingface.py


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
    if code == "provider_unavailable":  # the loading model's estimated_time
        assert headers["retry-after"] == "20"


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
