"""openai/text-embedding-3-small (and -large): OpenAI embeddings, batched within the API's request limits."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import numpy as np
import openai

from ..errors import (
    AirelayError,
    InvalidInput,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from ..settings import Settings
from ..tokens import estimate_input
from .base import Embedder, Embeddings, Usage
from .loops import LoopClients
from .retry_after import retry_after

log = logging.getLogger("airelay.providers")

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}
MAX_INPUTS = 2048  # texts in one request
MAX_REQUEST_TOKENS = 300_000  # tokens summed over one request's texts


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
        if batch and (len(batch) == MAX_INPUTS or tokens + size > MAX_REQUEST_TOKENS):
            yield batch
            batch, tokens = [], 0
        batch.append(text)
        tokens += size
    if batch:
        yield batch


class OpenAIEmbedder(Embedder):
    provider = "openai"

    def __init__(self, model_id: str, client: openai.AsyncOpenAI) -> None:
        super().__init__(model_id)
        if self.name not in DIMENSIONS:
            raise InvalidInput(f"unknown OpenAI embedding model '{self.name[:80]}'; use one of {', '.join(DIMENSIONS)}")
        self.dimension = DIMENSIONS[self.name]
        self.clients = LoopClients(client, openai.DefaultAsyncHttpx2Client)

    @classmethod
    def from_settings(cls, model_id: str, settings: Settings, key: str) -> OpenAIEmbedder:
        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=settings.openai_base_url or None,
            timeout=httpx2.Timeout(settings.upstream_timeout_s, connect=settings.upstream_connect_timeout_s),
            max_retries=settings.upstream_max_retries,
        )
        return cls(model_id, client)

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self.clients.client

    @client.setter
    def client(self, client: openai.AsyncOpenAI) -> None:  # the registry's, after a SnapStart restore
        self.clients.client = client

    def loop_client(self) -> openai.AsyncOpenAI:
        """The client for the running event loop (providers.loops), as a chat model's."""
        return self.clients.for_running_loop()

    async def embed(self, texts: list[str]) -> Embeddings:
        """One request per batch. A failure carries the usage of the batches before it (and of its own, where the
        provider may bill it), so that what was spent is billed."""
        client = self.loop_client()
        parts, used = [], Usage()
        for batch in batches(list(texts)):
            try:
                answer = await client.embeddings.create(model=self.name, input=batch, encoding_format="float")
                used = added(used, usage_of(answer.usage) or await estimate_input(batch))
                parts.append(vectors_of(answer.data, len(batch), self.dimension))
            except Exception as exc:
                error = sdk_error(exc)
                if isinstance(error, ProviderTimeout):  # the provider has the batch's input, and may bill it
                    used = added(used, await estimate_input(batch))
                error.usage = error.usage or (used if used.prompt_tokens else None)
                raise error from None
        if not parts:
            return Embeddings(np.zeros((0, self.dimension), dtype=np.float32), used)
        vectors = np.vstack(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        if np.any(norms == 0) or not np.all(np.isfinite(norms)):
            raise ProviderFailed("The model provider returned an empty embedding.", usage=used)
        return Embeddings(vectors / norms, used)


def vectors_of(rows, count: int, dimension: int) -> np.ndarray:
    """The rows' embeddings in `index` order: exactly the indexes 0..count-1, each a vector of numbers."""
    by_index = {row.index: row.embedding for row in rows}
    if len(rows) != count or sorted(by_index) != list(range(count)):
        raise ProviderFailed("The model provider returned embeddings of the wrong number or order.")
    vectors = np.asarray([by_index[i] for i in range(count)])  # numpy refuses ragged or nested rows (ValueError)
    if vectors.dtype.kind not in "fiu" or vectors.shape != (count, dimension):
        raise ProviderFailed("The model provider returned embeddings of the wrong size or type.")
    return vectors.astype(np.float32)


def usage_of(reported) -> Usage | None:
    tokens = getattr(reported, "prompt_tokens", None)
    return Usage(prompt_tokens=tokens) if tokens is not None else None


def added(total: Usage, more: Usage) -> Usage:
    return Usage(total.prompt_tokens + more.prompt_tokens, estimated=total.estimated or more.estimated)


def sdk_error(exc: BaseException) -> AirelayError:
    """An OpenAI SDK or transport error as an airelay error, once, without the upstream body."""
    if isinstance(exc, AirelayError):
        return exc
    log.warning("upstream error %s (status %s)", type(exc).__name__, getattr(exc, "status_code", "-"))
    if isinstance(exc, openai.RateLimitError):
        return ProviderRateLimited(retry_after=retry_after(exc.response.headers))
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ProviderFailed("The model provider refused this server's credentials.")
    if isinstance(exc, openai.NotFoundError):
        return ProviderFailed("The configured model is not available at the model provider.")
    if isinstance(exc, (openai.BadRequestError, openai.UnprocessableEntityError)):
        return InvalidInput("The model provider rejected the request (for example, the input is too long).")
    if isinstance(exc, openai.APIStatusError):
        return ProviderUnavailable() if exc.status_code in (503, 529) else ProviderFailed()
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException, TimeoutError)):
        return ProviderTimeout()
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable("The model provider could not be reached.")
    if isinstance(exc, (ValueError, KeyError, IndexError, TypeError, AttributeError)):
        return ProviderFailed("The model provider sent a malformed response.")
    return ProviderFailed()
