"""openai/text-embedding-3-small: batching within the API limits, usage, order, normalisation, errors mapped once."""

import asyncio
import json

import httpx2
import numpy as np
import openai
import pytest

from airelay.errors import InvalidInput, ProviderFailed, ProviderRateLimited, ProviderUnavailable
from airelay.providers.openai_embed import MAX_INPUTS, MAX_REQUEST_TOKENS, OpenAIEmbedder, batches


class FakeEmbeddingsApi:
    """Answers POST /v1/embeddings like OpenAI: one vector per input (out of order), usage = words per input; or
    `status` with an error body, from request number `failing_from` on (1 = the first)."""

    def __init__(self, status=200, failing_from=1):
        self.status = status
        self.failing_from = failing_from
        self.requests = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.status != 200 and len(self.requests) >= self.failing_from:
            return httpx2.Response(
                self.status, json={"error": {"message": "slow down", "type": "x"}}, headers={"retry-after": "3"}
            )
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0] + [0.0] * 1534}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # the API does not promise order; the index field does
        tokens = sum(len(t.split()) for t in body["input"])
        return httpx2.Response(
            200,
            json={
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def embedder(api) -> OpenAIEmbedder:
    client = openai.AsyncOpenAI(
        api_key="sk-test",
        base_url="http://upstream.test/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(api)),
    )
    return OpenAIEmbedder("openai/text-embedding-3-small", client)


def test_one_request_for_a_few_texts_with_usage_order_and_unit_vectors():
    api = FakeEmbeddingsApi()
    # WHEN three texts are embedded
    result = asyncio.run(embedder(api).embed(["배송 기간", "how long is shipping", "환불"]))
    # THEN one request carried all three, and usage is what the API reported
    assert len(api.requests) == 1 and api.requests[0]["model"] == "text-embedding-3-small"
    assert result.usage.prompt_tokens == 2 + 4 + 1
    # AND rows come back in input order (by index), normalised
    assert result.vectors.shape == (3, 1536)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0)
    lengths = result.vectors[:, 0] / result.vectors[:, 1]
    assert lengths.round().tolist() == [5.0, 20.0, 2.0]


def test_many_texts_are_split_at_the_input_count_limit(monkeypatch):
    import airelay.providers.openai_embed as module

    assert MAX_INPUTS == 2048
    monkeypatch.setattr(module, "MAX_INPUTS", 5)  # 2048 real rows of 1536 floats only make the test slow
    api = FakeEmbeddingsApi()
    texts = [f"question {i}" for i in range(12)]
    result = asyncio.run(embedder(api).embed(texts))
    assert [len(r["input"]) for r in api.requests] == [5, 5, 2]
    assert [r["input"][0] for r in api.requests] == ["question 0", "question 5", "question 10"]
    assert result.vectors.shape[0] == len(texts) and result.usage.prompt_tokens == 2 * len(texts)


def test_batches_stay_under_the_summed_token_limit():
    # GIVEN texts whose byte counts (an upper bound on tokens) add up past one request's limit
    texts = ["가" * 2000] * 120  # 6000 bytes each
    sizes = [len(b) for b in batches(texts)]
    assert sum(sizes) == 120 and max(sizes) * 6000 <= MAX_REQUEST_TOKENS and len(sizes) == 3


def test_empty_texts_are_refused_before_any_request():
    """A text over the model's 8192 tokens goes to the provider, whose 400 is the client's (counting it here exactly
    takes seconds for a long text without spaces: the BPE is quadratic in one word)."""
    with pytest.raises(InvalidInput):
        list(batches(["ok", ""]))


@pytest.mark.parametrize("status,error", [(429, ProviderRateLimited), (503, ProviderUnavailable)])
def test_upstream_errors_are_mapped_once(status, error):
    with pytest.raises(error) as raised:
        asyncio.run(embedder(FakeEmbeddingsApi(status)).embed(["배송"]))
    assert "slow down" not in raised.value.message  # the upstream body never reaches the client


def test_unknown_openai_embedding_models_are_refused():
    with pytest.raises(InvalidInput, match="text-embedding-3-small"):
        OpenAIEmbedder("openai/gpt-4o-mini", openai.AsyncOpenAI(api_key="x"))


def test_a_failed_later_batch_carries_the_usage_of_the_batches_before_it():
    """A request after the first failing: the error carries what the answered requests used, which usage.metered
    settles (the provider billed them)."""
    api = FakeEmbeddingsApi(500, failing_from=2)
    text = "word " * 1600  # 8000 bytes: two requests' worth together
    with pytest.raises(ProviderFailed) as failed:
        asyncio.run(embedder(api).embed([text] * (MAX_REQUEST_TOKENS // len(text) + 2)))
    assert len(api.requests) == 2
    assert failed.value.usage.prompt_tokens == 1600 * len(api.requests[0]["input"])


def answering(rows, usage=True):
    """An upstream that answers every request with `rows`, with usage (3 tokens) or without it."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        answer = {"object": "list", "data": rows, "model": "text-embedding-3-small"}
        if usage:
            answer["usage"] = {"prompt_tokens": 3, "total_tokens": 3}
        return httpx2.Response(200, json=answer)

    return handler


def row(index, element=0.5):
    return {"object": "embedding", "index": index, "embedding": [1.0, element] + [0.0] * 1534}


@pytest.mark.parametrize("element", ["high", [0.1, 0.2], None], ids=["word", "nested-list", "null"])
def test_a_vector_holding_anything_but_numbers_is_a_provider_failure_with_its_usage(element):
    """A row of the right length holding a word, a list or null: 502 (not numpy's error, a 500), billed what the
    provider reported."""
    with pytest.raises(ProviderFailed) as failed:
        asyncio.run(embedder(answering([row(0, element)])).embed(["hello"]))
    assert failed.value.usage.prompt_tokens == 3


@pytest.mark.parametrize(
    "indexes", [[0, 0], [0, 2], [1], [0, 1, 2]], ids=["duplicate", "missing", "too-few", "too-many"]
)
def test_rows_must_hold_each_index_once(indexes):
    """Rows are matched to texts by `index`: a duplicate, missing or extra index is a 502, not a vector given to a
    text it was not made for."""
    with pytest.raises(ProviderFailed):
        asyncio.run(embedder(answering([row(i) for i in indexes])).embed(["first", "second"]))


def test_an_answer_without_usage_is_billed_its_input_estimated():
    """No `usage` in the answer: the provider billed the input all the same, so its tokens are estimated."""
    result = asyncio.run(embedder(answering([row(0)], usage=False)).embed(["how long does shipping take?"]))
    assert result.usage.prompt_tokens > 0 and result.usage.estimated
